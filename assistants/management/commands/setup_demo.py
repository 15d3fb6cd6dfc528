"""Prepare the demo: the offline provider, the demo MCP server, a demo assistant, an admin."""

from __future__ import annotations

import secrets
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from assistants.models import Assistant, Provider
from mcp_servers.models import MCPServer

DEMO_INSTRUCTIONS = "You are Switchboard's demo assistant. Use the demo tools when they help."


class Command(BaseCommand):
    help = "Create the demo data (idempotent); prints an admin password once if no superuser exists."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        provider, _ = Provider.objects.get_or_create(
            name="Offline", defaults={"kind": Provider.Kind.OFFLINE, "default_model": "offline"}
        )
        server, created = MCPServer.objects.get_or_create(
            name="demo",
            defaults={
                "description": "The bundled demo MCP server (draw_dot, draw_dash, add, current_time, wait).",
                "transport": MCPServer.Transport.STDIO,
                "command": sys.executable,
                "args": ["-m", "mcp_servers.demo"],
                "cwd": str(settings.BASE_DIR),
            },
        )
        if not created and server.command != sys.executable and server.args == ["-m", "mcp_servers.demo"]:
            # The virtualenv moved or was rebuilt: follow the interpreter that runs the app.
            server.command = sys.executable
            server.cwd = str(settings.BASE_DIR)
            server.save(update_fields=["command", "cwd", "updated_at"])
        assistant, created = Assistant.objects.get_or_create(
            name="Demo assistant",
            owner=None,
            defaults={
                "description": "Runs on the offline model with the demo tools.",
                "instructions": DEMO_INSTRUCTIONS,
                "provider": provider,
            },
        )
        if created:
            assistant.mcp_servers.add(server)
        self.stdout.write(f"Demo ready: provider '{provider}', MCP server '{server}', assistant {assistant.pk}.")

        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username="admin", email="", password=password)
            self.stdout.write(self.style.SUCCESS(f"Admin login (shown once): admin / {password}"))
