from __future__ import annotations

from django.apps import AppConfig


class MCPServersConfig(AppConfig):
    name = "mcp_servers"
    verbose_name = "MCP servers"
