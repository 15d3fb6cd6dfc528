from __future__ import annotations

from django.apps import AppConfig


class AssistantsConfig(AppConfig):
    name = "assistants"
