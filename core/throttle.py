"""Throttled sign-in: who is asking (the client address), the lockout page, and failed API token use.

Password logins (the login page and the admin's) are counted by django-axes, per account and per address; it calls
`lockout_response` for a locked one. Bearer tokens are counted here, per address, in the cache (Redis when
REDIS_URL is set), so every process shares one count. Each lockout is written to the audit log.
"""

from __future__ import annotations

import ipaddress
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.audit import audit_record
from core.errors import ServiceError
from core.models import AuditEntry

# How long failed token uses are counted before the count starts again (also the longest lockout).
TOKEN_FAILURE_WINDOW = 15 * 60


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or the one the last PROXY_HOPS proxies wrote into X-Forwarded-For.

    Only addresses a trusted proxy appended count: a client can write any X-Forwarded-For it likes, but not the
    entries after its own. Anything that is not an IP address gives "": it is stored in IP address columns.
    """
    return _caller(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""))


def scope_address(scope: dict[str, Any]) -> str:
    """`client_address` for an ASGI connection (the MCP endpoints, which Django's request never wraps)."""
    client = scope.get("client") or ("", 0)
    forwarded = b",".join(value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for")
    return _caller(str(client[0] or ""), forwarded.decode("latin-1"))


def _caller(remote: str, forwarded: str) -> str:
    hops = settings.PROXY_HOPS
    if hops > 0 and forwarded:
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if len(entries) >= hops:
            return _address(entries[-hops])
    return _address(remote)


def _address(value: str) -> str:
    """An IP address in its canonical form, or "" for anything else (a test client's, a misconfigured proxy's)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return ""


def lockout_minutes(cool_off: timedelta | None) -> int | None:
    if not cool_off:
        return None
    return max(1, int(-(-cool_off.total_seconds() // 60)))


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """The page a locked account or address gets (django-axes' AXES_LOCKOUT_CALLABLE), on any login form."""
    from axes.helpers import get_cool_off

    context = {"minutes": lockout_minutes(get_cool_off(request)), "login_url": request.path}
    return render(request, "registration/locked.html", context, status=429)


def lockout_recorded(sender: Any, request: Any = None, username: str = "", ip_address: str = "", **kwargs: Any) -> None:
    """django-axes' user_locked_out signal: one audit entry naming the account tried and the address."""
    audit_record(
        user=None,
        action=AuditEntry.Action.LOCKED_OUT,
        target_type="user",
        target_name=str(username or "")[:150],
        details={"address": ip_address or "", "via": "password"},
    )


def _token_key(address: str) -> str:
    return f"token-failures:{address}"


def token_address_check(*, address: str) -> None:
    """Refuse token use from an address that failed too often lately (TOKEN_FAILURE_LIMIT; 0 turns it off)."""
    limit = settings.SWITCHBOARD["TOKEN_FAILURE_LIMIT"]
    if limit <= 0:
        return
    key = _token_key(address)
    if (cache.get(key) or 0) < limit:
        return
    started = cache.get(f"{key}:at") or time.time()
    retry_after = max(1, int(started + TOKEN_FAILURE_WINDOW - time.time()))
    minutes = lockout_minutes(timedelta(seconds=retry_after))
    raise ServiceError(
        "rate_limited",
        f"Too many failed API token uses from this address; try again in {minutes} minute(s).",
        retry_after=retry_after,
    )


def token_failure_record(*, address: str) -> None:
    """Count one unknown, revoked or expired token from this address; the one that reaches the limit is audited."""
    limit = settings.SWITCHBOARD["TOKEN_FAILURE_LIMIT"]
    if limit <= 0:
        return
    key = _token_key(address)
    # The window runs from the first failure, so a lockout lasts at most the window. add() and incr() are atomic:
    # processes counting at once lose no failure.
    if cache.add(key, 1, timeout=TOKEN_FAILURE_WINDOW):
        cache.set(f"{key}:at", time.time(), timeout=TOKEN_FAILURE_WINDOW)
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=TOKEN_FAILURE_WINDOW)
            count = 1
    if count == limit:
        audit_record(
            user=None,
            action=AuditEntry.Action.LOCKED_OUT,
            target_type="address",
            target_name=address[:200],
            details={"address": address, "via": "token"},
        )
