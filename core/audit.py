"""The audit log: who called which tool, changed which provider, MCP server or token, and who logged in.

Entries never hold a secret: changes name the fields that changed, not their values, and tool arguments
are kept only when AUDIT_TOOL_ARGUMENTS is on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import AuditEntry


def audit_entry(
    *,
    user: Any,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_name: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """An unsaved entry, for callers that write it in their own transaction."""
    if target is not None:
        target_type = target_type or str(target._meta.verbose_name)
        target_id = target_id or str(target.pk)
        target_name = target_name or str(target)
    known = user is not None and getattr(user, "is_authenticated", False)
    return AuditEntry(
        user=user if known else None,
        username=user.get_username() if known else "",
        action=action,
        target_type=target_type[:40],
        target_id=target_id[:64],
        target=target_name[:200],
        details=details or {},
    )


def audit_record(**kwargs: Any) -> AuditEntry:
    """Write one entry (the arguments of `audit_entry`)."""
    entry = audit_entry(**kwargs)
    entry.save()
    return entry


def tool_arguments_audited(arguments: Any) -> dict[str, Any]:
    """What the log keeps of a tool call's arguments: all of them, or only their names (the default)."""
    if settings.SWITCHBOARD["AUDIT_TOOL_ARGUMENTS"]:
        return {"arguments": arguments}
    return {"argument_names": sorted(arguments) if isinstance(arguments, dict) else []}


def audit_cleanup(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete entries older than this many days; return how many."""
    old = AuditEntry.objects.filter(created_at__lt=timezone.now() - timedelta(days=older_than_days))
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    return deleted


def login_recorded(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(user=user, action=AuditEntry.Action.LOGIN, target=user, target_type="user")


def login_failure_recorded(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Django has already masked the password in `credentials`; only the name tried is kept.
    tried = str(credentials.get("username") or "")[:150]
    audit_record(user=None, action=AuditEntry.Action.LOGIN_FAILED, target_type="user", target_name=tried)
