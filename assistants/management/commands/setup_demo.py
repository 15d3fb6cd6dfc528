"""Prepare the demo: the offline provider, the demo MCP server, a demo assistant, an admin.

Providers named by environment variables (`OPENAI_API_KEY`, `GEMINI_API_KEY`, `GROQ_API_KEY`,
`OPENROUTER_API_KEY`) are created once, with an assistant each; after that the database is the
source of truth. `LLM_PROVIDER` (offline, openai, gemini, groq, openrouter) picks the provider of
the demo assistant.
"""

from __future__ import annotations

import os
import secrets
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from assistants.models import Assistant, Provider
from assistants.presets import PRESETS
from mcp_servers import demo
from mcp_servers.models import MCPServer

DEMO_INSTRUCTIONS = "You are Switchboard's demo assistant. Use the demo tools when they help."
ENV_PROVIDERS = ("openai", "gemini", "groq", "openrouter")
# Descriptions earlier versions gave the demo server; one still in place is brought up to date.
STALE_DESCRIPTIONS = ("The bundled demo MCP server (draw_dot, draw_dash, add, current_time, wait).",)


class Command(BaseCommand):
    help = "Create the demo data (idempotent); prints an admin password once if no superuser exists."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        offline, _ = Provider.objects.get_or_create(
            name="Offline", defaults={"kind": Provider.Kind.OFFLINE, "default_model": "offline"}
        )
        server = self.demo_server()
        providers = {"offline": offline, **self.providers_from_env(server)}
        demo, created = Assistant.objects.get_or_create(
            name="Demo assistant",
            owner=None,
            defaults={
                "description": "Runs on the offline model with the demo tools.",
                "instructions": DEMO_INSTRUCTIONS,
                "provider": offline,
            },
        )
        if created:
            demo.mcp_servers.add(server)
        choice = os.environ.get("LLM_PROVIDER", "").strip().lower()
        if choice:
            if choice not in providers:
                raise CommandError(f"LLM_PROVIDER={choice!r} names no configured provider: {', '.join(providers)}.")
            if demo.provider_id != providers[choice].pk:
                demo.provider, demo.model = providers[choice], ""
                demo.description = f"Runs on {providers[choice].name} with the demo tools."
                demo.save(update_fields=["provider", "model", "description", "updated_at"])
        self.stdout.write(f"Demo ready: MCP server '{server}', assistant {demo.pk} on '{demo.provider}'.")

        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username="admin", email="", password=password)
            self.stdout.write(self.style.SUCCESS(f"Admin login (shown once): admin / {password}"))

    def demo_server(self) -> MCPServer:
        description = demo.description()
        server, created = MCPServer.objects.get_or_create(
            name="demo",
            defaults={
                "description": description,
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
        if not created and server.description in STALE_DESCRIPTIONS:
            # Written by an earlier setup_demo, before the demo had all its tools: not an admin's own words.
            server.description = description
            server.save(update_fields=["description", "updated_at"])
        return server

    def providers_from_env(self, server: MCPServer) -> dict[str, Provider]:
        """Create each provider whose API key is in the environment, once."""
        found = {}
        for key in ENV_PROVIDERS:
            preset = PRESETS[key]
            api_key = os.environ.get(f"{preset.env_prefix}_API_KEY", "").strip()
            existing = Provider.objects.filter(name=preset.label).first()
            if existing is not None:
                found[key] = existing
                continue
            if not api_key:
                continue
            base_url = preset.base_url
            if key == "openai":
                base_url = os.environ.get("OPENAI_BASE_URL", "").strip() or base_url
            provider = Provider.objects.create(
                name=preset.label,
                kind=preset.kind,
                api_style=preset.api_style,
                base_url=base_url,
                api_key=api_key,
                default_model=os.environ.get(f"{preset.env_prefix}_DEFAULT_MODEL", "").strip() or preset.default_model,
            )
            assistant = Assistant.objects.create(
                name=f"{preset.label} assistant",
                description=f"Runs on {preset.label} ({provider.default_model}) with the demo tools.",
                instructions=DEMO_INSTRUCTIONS,
                provider=provider,
            )
            assistant.mcp_servers.add(server)
            self.stdout.write(f"Created provider '{provider}' from {preset.env_prefix}_API_KEY.")
            found[key] = provider
        return found
