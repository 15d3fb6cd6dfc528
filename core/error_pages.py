"""The error pages (400, 403, 404, 500 and a refused CSRF check) in the site's layout, with the server's message
and a way back. Django's own pages are bare, and drop the message a view raised with."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

logger = logging.getLogger(__name__)

TEMPLATE = "error.html"


def _message(exception: Exception | None) -> str:
    """The message a view raised with (`Http404("Token not found")`), if it gave one; never a resolver's dict."""
    args = getattr(exception, "args", None) or ()
    return args[0] if args and isinstance(args[0], str) else ""


def _back(request: HttpRequest) -> str:
    """The page the visitor came from, if it is on this site: the first way back."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        return referer
    return ""


def _page(request: HttpRequest, *, status: int, title: str, text: str, message: str = "") -> HttpResponse:
    context: dict[str, Any] = {
        "status": status,
        "title": title,
        "text": text,
        "message": message,
        "back": _back(request),
        "home": reverse("chat:conversation_list"),
    }
    try:
        body = loader.render_to_string(TEMPLATE, context, request=request)
    except Exception:  # the failure may be in what the layout needs (the database, a context processor)
        logger.exception("The error page could not be rendered in the site's layout")
        body = loader.render_to_string("error_bare.html", context)
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(
        request, status=400, title="Bad request", text="The server could not understand this request.",
        message=_message(exception),
    )  # fmt: skip


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(
        request, status=403, title="Not allowed", text="You may not open this page or do this action.",
        message=_message(exception),
    )  # fmt: skip


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(
        request, status=404, title="Page not found",
        text="There is nothing here: the address is wrong, or what it showed was deleted or is not yours.",
        message=_message(exception),
    )  # fmt: skip


def server_error(request: HttpRequest) -> HttpResponse:
    # No message: what went wrong stays in the server's log, where an administrator can read it.
    return _page(
        request, status=500, title="Something went wrong",
        text="The server failed to answer this request. Try again in a moment; if it keeps failing, tell an "
        "administrator what you were doing.",
    )  # fmt: skip


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _page(
        request, status=403, title="The form has expired",
        text="The form was sent without a valid security token, so nothing was changed. This happens when a page "
        "stayed open across a sign-in or sign-out, or when cookies are blocked. Reload the page and send it again.",
        message=reason,
    )  # fmt: skip
