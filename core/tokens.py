"""Personal API tokens: created once, stored as a digest, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from cryptography.fernet import InvalidToken
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Q
from django.utils import timezone

from core.audit import audit_record
from core.crypto import fernet
from core.models import ApiToken, AuditEntry
from core.throttle import token_address_check, token_failure_record

TOKEN_PREFIX = "sb_"
# Writing last_used_at on every request would be a write per call; once a minute is precise enough.
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user: AbstractBaseUser, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret value, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100] or "API token", prefix=raw[:10], digest=_digest(raw), expires_at=expires_at
    )
    audit_record(user=user, action=AuditEntry.Action.CREATED, target=token)
    return token, raw


# A new token waits in the session for the one page that shows it, encrypted like every secret at rest, and for
# this many seconds at most.
REVEAL_KEY = "token_created"
REVEAL_WITHIN = 600


def token_reveal_keep(*, session: SessionBase, token: ApiToken, raw: str) -> None:
    """Keep a new token's value for the next page to show, once (post/redirect/get: a reload makes no other)."""
    session[REVEAL_KEY] = {"id": token.pk, "raw": fernet().encrypt(raw.encode()).decode()}


def token_reveal_take(*, session: SessionBase, user: AbstractBaseUser) -> tuple[ApiToken | None, str]:
    """The new token kept for this page and its value, taken out of the session; (None, "") if none waits."""
    waiting = session.pop(REVEAL_KEY, None)
    if not isinstance(waiting, dict):
        return None, ""
    token = ApiToken.objects.filter(pk=waiting.get("id"), user=user).first()
    try:
        raw = fernet().decrypt(str(waiting.get("raw", "")).encode(), ttl=REVEAL_WITHIN).decode()
    except InvalidToken:
        return None, ""  # shown too late: the user makes another
    return (token, raw) if token is not None else (None, "")


def token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens; another user's token raises ApiToken.DoesNotExist."""
    token = ApiToken.objects.get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(user=user, action=AuditEntry.Action.CHANGED, target=token, details={"fields": ["revoked_at"]})
    return token


def token_authenticate(raw: str | None, *, address: str | None = None) -> AbstractBaseUser | None:
    """Return the active user a token belongs to, or None for a missing, unknown, revoked or expired token.

    With the caller's `address`, failed tokens are counted per address, and an address past TOKEN_FAILURE_LIMIT
    is refused (`rate_limited`) before its token is even looked at.
    """
    if address is not None:
        token_address_check(address=address)
    user = _token_user(raw)
    if user is None and raw and address is not None:
        token_failure_record(address=address)
    return user


def _token_user(raw: str | None) -> AbstractBaseUser | None:
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(raw), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def bearer_token(authorization: str | None) -> str | None:
    """The token in an `Authorization: Bearer …` header value."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
