"""Apply the retention settings: delete old conversations (with their runs and steps) and old audit entries,
then let every app whose AppConfig has a `cleanup(*, dry_run: bool) -> list[str]` method apply its own (traces,
say); the lines it returns are printed."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.services import conversations_cleanup
from core.audit import audit_cleanup


class Command(BaseCommand):
    help = (
        "Delete conversations idle longer than CONVERSATION_RETENTION_DAYS (0 keeps them), audit entries "
        "older than AUDIT_RETENTION_DAYS, and whatever other apps' retention settings say (traces: "
        "TRACE_RETENTION_DAYS). Run it daily, from cron or a timer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversation-days", type=int, help="Override CONVERSATION_RETENTION_DAYS.")
        parser.add_argument("--audit-days", type=int, help="Override AUDIT_RETENTION_DAYS.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        limits = settings.SWITCHBOARD
        conversation_days = options["conversation_days"]
        audit_days = options["audit_days"]
        conversation_days = limits["CONVERSATION_RETENTION_DAYS"] if conversation_days is None else conversation_days
        audit_days = limits["AUDIT_RETENTION_DAYS"] if audit_days is None else audit_days
        if conversation_days < 0 or audit_days < 0:
            raise CommandError("Retention days must be 0 (keep) or more.")
        dry_run = options["dry_run"]
        verb = "Would delete" if dry_run else "Deleted"
        if conversation_days:
            count = conversations_cleanup(older_than_days=conversation_days, dry_run=dry_run)
            self.stdout.write(f"{verb} {count} conversation(s) idle for over {conversation_days} day(s).")
        else:
            self.stdout.write("Conversations are kept (retention 0).")
        if audit_days:
            count = audit_cleanup(older_than_days=audit_days, dry_run=dry_run)
            self.stdout.write(f"{verb} {count} audit entr{'y' if count == 1 else 'ies'} over {audit_days} day(s) old.")
        else:
            self.stdout.write("Audit entries are kept (retention 0).")
        # Apps above chat keep data of their own; chat may not import them, so each offers this hook.
        for config in apps.get_app_configs():
            cleanup = getattr(config, "cleanup", None)
            if callable(cleanup):
                for line in cleanup(dry_run=dry_run):
                    self.stdout.write(line)
