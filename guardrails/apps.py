from __future__ import annotations

from django.apps import AppConfig


class GuardrailsConfig(AppConfig):
    name = "guardrails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.presence import rows_watch
        from guardrails.models import Guardrail

        rows_watch(Guardrail)
