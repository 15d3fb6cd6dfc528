"""`python manage.py export_mcp_servers [--include-secrets]`: print the mcpServers JSON of every server."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mcp_servers.config_io import config_export
from mcp_servers.models import MCPServer


class Command(BaseCommand):
    help = (
        "Print all MCP servers as an mcpServers JSON document. Env and header values are left empty "
        "unless --include-secrets is given (importing an empty value keeps the stored one)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--include-secrets", action="store_true", help="Include env and header values.")
        parser.add_argument("names", nargs="*", help="Only these servers (default: all).")

    def handle(self, *args: Any, include_secrets: bool, names: list[str], **options: Any) -> None:
        servers = MCPServer.objects.order_by("name")
        if names:
            servers = servers.filter(name__in=names)
        document = config_export(servers, include_secrets=include_secrets)
        self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))
