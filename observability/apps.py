from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from observability.services import trace_store_install

        trace_store_install()

    def cleanup(self, *, dry_run: bool) -> list[str]:
        """`manage.py cleanup` calls this: delete traces older than TRACE_RETENTION_DAYS."""
        from observability.services import traces_cleanup

        days = settings.TRACE_RETENTION_DAYS
        if not days:
            return ["Traces are kept (retention 0)."]
        count = traces_cleanup(older_than_days=days, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        return [f"{verb} {count} trace(s) over {days} day(s) old."]
