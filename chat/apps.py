from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat.models import Quota
        from core.presence import rows_watch

        rows_watch(Quota)
