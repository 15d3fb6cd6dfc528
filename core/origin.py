"""The WebSocket Origin check: a socket is accepted only from a page of this very site.

Channels' AllowedHostsOriginValidator compares the Origin's host name with ALLOWED_HOSTS and ignores its scheme
and port, so a page served by anything else on an allowed host (`http://127.0.0.1:9999`, another app on the same
machine) could open a socket that carries the user's session cookie. This validator keeps its rules (no Origin,
or a Host outside ALLOWED_HOSTS, is refused) and adds Django's CSRF rule: the Origin must be the request's own
scheme, host and port, or one of CSRF_TRUSTED_ORIGINS.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _normalised(scheme: str, host: str, port: int | None) -> tuple[str, str, int | None]:
    return scheme, host.lower().strip("[]"), port if port is not None else DEFAULT_PORTS.get(scheme)


def _origin_parts(origin: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return _normalised(parts.scheme, parts.hostname, port)


def request_scheme(scope: dict[str, Any]) -> str:
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy is not None:
        # The same header Django trusts for request.is_secure(), under its ASGI name.
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = _header(scope, name)
        if forwarded is not None:
            return "https" if forwarded.split(",")[0].strip() == proxy[1] else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def origin_allowed(*, origin: str | None, host: str | None, scheme: str) -> bool:
    """Whether a request to `scheme://host` may come from a page of `origin`, by Django's CSRF rules."""
    if not origin or not host:
        return False
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return False
    given = _origin_parts(origin)
    if given is None:
        return False
    own = _normalised(scheme, domain, int(port) if port else None)
    if given == own:
        return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        parts = urlsplit(trusted)
        try:
            trusted_port = parts.port
        except ValueError:
            continue
        if "*" in parts.netloc:
            # Django's form for subdomains: https://*.example.com
            pattern = parts.netloc.split(":")[0].replace("*", "", 1)
            scheme_ok = parts.scheme == given[0]
            port_ok = _normalised(parts.scheme, "x", trusted_port)[2] == given[2]
            if scheme_ok and port_ok and is_same_domain(given[1], pattern):
                return True
        elif parts.hostname and _normalised(parts.scheme, parts.hostname, trusted_port) == given:
            return True
    return False


class SameOriginValidator:
    """ASGI middleware for WebSockets: refuse the handshake unless `origin_allowed`."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator only guards WebSocket connections.")
        allowed = origin_allowed(
            origin=_header(scope, b"origin"), host=_header(scope, b"host"), scheme=request_scheme(scope)
        )
        if not allowed:
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
