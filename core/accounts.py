"""A user's own account: their password, the browser sessions they are signed in with, signing out everywhere."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from core.audit import audit_record
from core.errors import ServiceError
from core.models import AuditEntry, UserSession
from core.throttle import client_address


def _store(session_key: str | None = None) -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def session_record(*, request: HttpRequest, user: AbstractBaseUser) -> UserSession | None:
    """Note the session a login just began (the user_logged_in signal), so the user can list and end it."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not key:
        return None
    record, _ = UserSession.objects.update_or_create(
        session_key=key,
        defaults={
            "user": user,
            "address": client_address(request)[:64] if hasattr(request, "META") else "",
            "user_agent": (request.headers.get("User-Agent", "") if hasattr(request, "headers") else "")[:200],
        },
    )
    return record


def session_forget(*, session_key: str | None) -> None:
    """A logout ended this session (the user_logged_out signal)."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def session_list(*, user: AbstractBaseUser) -> list[UserSession]:
    """The user's live sessions, newest first; records of sessions that expired meanwhile are dropped."""
    live, gone = [], []
    store = _store()
    for record in UserSession.objects.filter(user=user):
        (live if store.exists(record.session_key) else gone).append(record)
    if gone:
        UserSession.objects.filter(pk__in=[record.pk for record in gone]).delete()
    return live


def session_end(*, user: AbstractBaseUser, session_id: int) -> None:
    """Sign one of the user's sessions out; another user's is not found."""
    record = UserSession.objects.filter(pk=session_id, user=user).first()
    if record is None:
        raise ServiceError.not_found("session", session_id)
    _store(record.session_key).delete()
    record.delete()


def session_end_all(*, user: AbstractBaseUser, keep: str | None = None) -> int:
    """Sign the user out of every session (but `keep`, a session key); return how many ended."""
    records = UserSession.objects.filter(user=user).exclude(session_key=keep or "")
    ended = 0
    for record in records:
        _store(record.session_key).delete()
        ended += 1
    records.delete()
    audit_record(user=user, action=AuditEntry.Action.CHANGED, target=user, target_type="user",
                 details={"fields": ["sessions"], "ended": ended})  # fmt: skip
    return ended


def password_change(*, request: HttpRequest, user: AbstractBaseUser, new_password: str) -> None:
    """Set a new (already validated) password; every other session is signed out, this one stays."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    # The session hash follows the password: without this the user's own session would end too.
    update_session_auth_hash(request, user)
    session_end_all(user=user, keep=request.session.session_key)
    audit_record(user=user, action=AuditEntry.Action.CHANGED, target=user, target_type="user",
                 details={"fields": ["password"]})  # fmt: skip
