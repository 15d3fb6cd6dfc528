from __future__ import annotations

from django.apps import AppConfig


class MCPServersConfig(AppConfig):
    name = "mcp_servers"
    # Not "MCP servers": the admin's breadcrumb would say it twice, app then model.
    verbose_name = "Tools"

    def ready(self) -> None:
        from django.core import checks

        from mcp_servers.sandbox import sandbox_check

        checks.register(sandbox_check)
