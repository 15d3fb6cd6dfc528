"""A user's own remote MCP servers, for their own assistants."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.text import slugify

from core.errors import ServiceError
from mcp_servers.models import MCPServer

OWN_TRANSPORTS = (MCPServer.Transport.STREAMABLE_HTTP, MCPServer.Transport.SSE, MCPServer.Transport.WEBSOCKET)
OWN_SERVERS_MAX = 20


def mcp_server_own_allowed(*, user: Any) -> bool:
    """Whether an administrator lets this user add remote MCP servers (a permission, granted to groups)."""
    return bool(user.is_authenticated and user.has_perm("mcp_servers.add_own_mcpserver"))


def mcp_server_own_create(
    *, user: Any, name: str, transport: str, url: str, authorization: str = "", description: str = ""
) -> MCPServer:
    """Add a remote MCP server of the user's own, for their own assistants: one connection per user, no stdio (a
    command would run on the host), its URL checked against the network policy like an administrator's."""
    if not mcp_server_own_allowed(user=user):
        raise ServiceError("permission_denied", "Your administrator has not let you add MCP servers.")
    if transport not in OWN_TRANSPORTS:
        raise ServiceError.invalid({"transport": ["Choose Streamable HTTP, SSE or WebSocket."]})
    if MCPServer.objects.filter(owner=user).count() >= OWN_SERVERS_MAX:
        raise ServiceError.invalid({"__all__": [f"You have {OWN_SERVERS_MAX} MCP servers already: remove one."]})
    label = slugify(name or "")[:40]
    if not label:
        raise ServiceError.invalid({"name": ["Give it a name of letters, digits or dashes."]})
    server = MCPServer(
        # The owner's name keeps two users' servers apart, in this list and in the tool names the model sees.
        name=f"{slugify(user.get_username())[:20]}-{label}",
        description=description[:500],
        transport=transport,
        url=url.strip(),
        headers={"Authorization": authorization} if authorization else {},
        owner=user,
        scope=MCPServer.Scope.PER_USER,
    )
    if MCPServer.objects.filter(name=server.name).exists():
        raise ServiceError.invalid({"name": ["You have a server of that name already."]})
    try:
        server.full_clean()
    except ValidationError as exc:
        raise ServiceError.invalid(exc.message_dict) from None
    server.save()
    return server


def mcp_server_own_delete(*, user: Any, server_id: Any) -> None:
    """Remove one of the user's own servers (another user's is not found); their assistants lose it."""
    deleted, _ = MCPServer.objects.filter(pk=server_id if str(server_id).isdigit() else 0, owner=user).delete()
    if not deleted:
        raise ServiceError.not_found("MCP server", server_id)
