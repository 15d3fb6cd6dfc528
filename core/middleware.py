"""Response headers that every page carries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

# No inline script anywhere: the chat page's behaviour lives in static files. The admin's own
# templates use inline style attributes, so only styles are relaxed there.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
CSP_ADMIN = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def csp_posting_to(source: str) -> str:
    """The site's CSP for a page whose form is answered with a redirect to `source` (an origin or a scheme):
    browsers hold a form's redirects to form-action too."""
    return CSP.replace("form-action 'self'", f"form-action 'self' {source}")


class SecurityHeadersMiddleware:
    """Both sync and async: under ASGI a sync-only middleware would push every async view to a thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.admin_prefix = "/admin/"
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._headers_add(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._headers_add(request, await self.get_response(request))

    def _headers_add(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        policy = CSP_ADMIN if request.path.startswith(self.admin_prefix) else CSP
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response
