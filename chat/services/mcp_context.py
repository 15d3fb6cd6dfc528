"""The resources and prompts of a conversation's MCP servers, for the composer.

Only the servers of the conversation's assistant, and only while the owner may run it (the same check a run
makes), each through the process's connection pool: a prompt fills the message box with its rendered messages,
a resource's contents go into the message, bounded (mcp_servers.services.RESOURCE_TEXT_MAX_CHARS).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.base_user import AbstractBaseUser

from assistants.services import assistant_run_refusal
from chat.selectors import conversation_get_for_user
from core.errors import ServiceError
from mcp_servers.errors import MCPConnectError
from mcp_servers.models import MCPServer
from mcp_servers.services import (
    mcp_server_app_read,
    mcp_server_catalog,
    mcp_server_prompt_get,
    mcp_server_resource_read,
)

ARGUMENT_MAX_CHARS = 2_000


def _servers(*, user: AbstractBaseUser, thread_id: str) -> list[MCPServer]:
    conversation = conversation_get_for_user(user=user, conversation_id=thread_id)
    assistant = conversation.assistant
    if assistant is None:
        return []
    servers = list(assistant.mcp_servers.filter(enabled=True).order_by("name"))
    refusal = assistant_run_refusal(assistant=assistant, user_id=user.pk, server_ids=[s.pk for s in servers])
    if refusal:
        raise ServiceError("permission_denied", refusal)
    return servers


_servers_async = sync_to_async(_servers)


async def _server(*, user: AbstractBaseUser, thread_id: str, server_name: Any) -> MCPServer:
    for server in await _servers_async(user=user, thread_id=thread_id):
        if server.name == server_name:
            return server
    raise ServiceError.not_found("MCP server", server_name)


async def conversation_mcp_catalog(*, user: AbstractBaseUser, thread_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every resource and prompt the conversation's servers offer; a server that cannot be reached is named."""
    catalog: dict[str, list[dict[str, Any]]] = {"resources": [], "prompts": [], "unavailable": []}
    for server in await _servers_async(user=user, thread_id=thread_id):
        try:
            offered = await mcp_server_catalog(server=server, user_id=user.pk, username=user.get_username())
        except (MCPConnectError, ServiceError) as exc:
            catalog["unavailable"].append({"server": server.name, "error": str(exc)})
            continue
        catalog["resources"] += offered["resources"]
        catalog["prompts"] += offered["prompts"]
    return catalog


async def conversation_mcp_resource(
    *, user: AbstractBaseUser, thread_id: str, server_name: Any, uri: Any
) -> dict[str, str]:
    """One resource's contents as text, to go into the next message."""
    if not isinstance(uri, str) or not uri or len(uri) > 2_000:
        raise ServiceError.invalid({"uri": ["Give the resource's URI."]})
    server = await _server(user=user, thread_id=thread_id, server_name=server_name)
    try:
        text = await mcp_server_resource_read(server=server, user_id=user.pk, username=user.get_username(), uri=uri)
    except MCPConnectError as exc:
        raise ServiceError("mcp_server_unavailable", str(exc)) from exc
    return {"server": server.name, "uri": uri, "text": text}


async def conversation_mcp_app(*, user: AbstractBaseUser, thread_id: str, server_name: Any, uri: str) -> str:
    """A tool's view (MCP Apps) for the conversation's owner: the HTML of its `ui://` resource."""
    server = await _server(user=user, thread_id=thread_id, server_name=server_name)
    try:
        return await mcp_server_app_read(server=server, user_id=user.pk, username=user.get_username(), uri=uri)
    except MCPConnectError as exc:
        raise ServiceError("mcp_server_unavailable", str(exc)) from exc


async def conversation_mcp_prompt(
    *, user: AbstractBaseUser, thread_id: str, server_name: Any, name: Any, arguments: Any
) -> dict[str, Any]:
    """A prompt rendered with the owner's arguments: its messages, and the text they make in the message box."""
    if not isinstance(name, str) or not name:
        raise ServiceError.invalid({"name": ["Give the prompt's name."]})
    arguments = arguments or {}
    if not isinstance(arguments, dict) or not all(
        isinstance(key, str) and isinstance(value, str) and len(value) <= ARGUMENT_MAX_CHARS
        for key, value in arguments.items()
    ):
        raise ServiceError.invalid(
            {"arguments": [f"Arguments are strings of at most {ARGUMENT_MAX_CHARS} characters."]}
        )
    server = await _server(user=user, thread_id=thread_id, server_name=server_name)
    try:
        messages = await mcp_server_prompt_get(
            server=server, user_id=user.pk, username=user.get_username(), name=name, arguments=arguments
        )
    except MCPConnectError as exc:
        raise ServiceError("mcp_server_unavailable", str(exc)) from exc
    if len(messages) == 1 and messages[0]["role"] == "user":
        text = messages[0]["text"]
    else:
        text = "\n\n".join(f"{message['role'].capitalize()}: {message['text']}" for message in messages)
    return {"server": server.name, "name": name, "messages": messages, "text": text}
