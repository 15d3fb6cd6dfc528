from __future__ import annotations

from django.apps import AppConfig


class AssistantsConfig(AppConfig):
    name = "assistants"

    def ready(self) -> None:
        from assistants.models import ModelPrice
        from core.presence import rows_watch

        rows_watch(ModelPrice)
