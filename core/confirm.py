"""The page that asks before a destructive action, shared by every view that has one."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def confirm_page(request: HttpRequest, *, title: str, text: str, button: str, cancel: str) -> HttpResponse:
    """Ask before a destructive action; the page's form posts back to the same URL, its cancel link goes to `cancel`."""
    context = {"title": title, "text": text, "button": button, "cancel": cancel}
    return render(request, "core/confirm.html", context)
