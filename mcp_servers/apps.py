from __future__ import annotations

from django.apps import AppConfig


class MCPServersConfig(AppConfig):
    name = "mcp_servers"
    verbose_name = "MCP servers"

    def ready(self) -> None:
        from django.core import checks

        from mcp_servers.sandbox import sandbox_check

        checks.register(sandbox_check)
