"""The site's URLs plus views that fail, for the error page tests."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401 - the handlers


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a secret detail of the failure")


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("No such widget here.")


def refused(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("Only the owner may open this widget.")


urlpatterns = [
    path("tests/boom/", boom),
    path("tests/missing/", missing),
    path("tests/refused/", refused),
    *urlpatterns,
]
