"""Workflows for MCP server configurations."""

from __future__ import annotations

from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer
from django.conf import settings

from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool


def mcp_server_approval_setting(server: MCPServer) -> Any:
    if server.approval == MCPServer.Approval.ALWAYS:
        return "always"
    if server.approval == MCPServer.Approval.LISTED and server.approval_tools:
        return {"always": {"tool_names": list(server.approval_tools)}}
    return None


async def mcp_server_connect(*, server: MCPServer, user_id: int, username: str) -> AgentsMCPServer:
    """Borrow a live connection to this server from the process pool."""
    per_user = server.scope == MCPServer.Scope.PER_USER
    return await get_pool().acquire(
        server_id=server.pk,
        name=server.name,
        params=server.launch_params(user_id=user_id, username=username),
        options={
            "allowed_tools": server.allowed_tools,
            "denied_tools": server.denied_tools,
            "require_approval": mcp_server_approval_setting(server),
        },
        user_id=user_id if per_user else None,
        idle_seconds=settings.SWITCHBOARD["MCP_IDLE_SECONDS"],
    )
