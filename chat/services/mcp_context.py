"""The resources and prompts of a conversation's MCP servers, for the composer and the run.

Only the servers of the conversation's assistant, and only while the owner may run it (the same check a run
makes), each through the process's connection pool: a prompt fills the message box with its rendered messages,
or the conversation with them (`/<server>:<prompt> arg=value`); a resource attached to a message is read when a
run starts and its contents go to the model with that message, bounded
(mcp_servers.services.RESOURCE_TEXT_MAX_CHARS).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
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
    mcp_server_prompt_list,
    mcp_server_resource_read,
)

ARGUMENT_MAX_CHARS = 2_000
RESOURCES_PER_MESSAGE = 10


def _servers(*, user: AbstractBaseUser, thread_id: str) -> list[MCPServer]:
    conversation = conversation_get_for_user(user=user, conversation_id=thread_id)
    assistant = conversation.assistant
    if assistant is None:
        return []
    servers = list(assistant.mcp_servers.filter(enabled=True).order_by("name"))
    refusal = assistant_run_refusal(assistant=assistant, user=conversation.owner, server_ids=[s.pk for s in servers])
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
    """Every resource, resource template and prompt the conversation's servers offer; a server that cannot be
    reached is named."""
    catalog: dict[str, list[dict[str, Any]]] = {"resources": [], "templates": [], "prompts": [], "unavailable": []}
    for server in await _servers_async(user=user, thread_id=thread_id):
        try:
            offered = await mcp_server_catalog(server=server, user_id=user.pk, username=user.get_username())
        except (MCPConnectError, ServiceError) as exc:
            catalog["unavailable"].append({"server": server.name, "error": str(exc)})
            continue
        catalog["resources"] += offered["resources"]
        catalog["templates"] += offered["templates"]
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


# --- Resources attached to a message -------------------------------------------------------------------------------


def resources_check(*, user: AbstractBaseUser, thread_id: str, resources: Any) -> list[dict[str, str]]:
    """The MCP resources a message attaches ([{"server", "uri", "title"}]), each on one of the conversation's
    servers the owner may use; refused with a clear error otherwise."""
    if not resources:
        return []
    if not isinstance(resources, list) or len(resources) > RESOURCES_PER_MESSAGE:
        raise ServiceError.invalid({"resources": [f"Attach a list of at most {RESOURCES_PER_MESSAGE} resources."]})
    names = {server.name for server in _servers(user=user, thread_id=thread_id)}
    checked: list[dict[str, str]] = []
    for resource in resources:
        if not isinstance(resource, dict):
            raise ServiceError.invalid({"resources": ["Each resource is an object with 'server' and 'uri'."]})
        server, uri, title = resource.get("server"), resource.get("uri"), resource.get("title") or ""
        if not isinstance(uri, str) or not uri or len(uri) > 2_000 or not isinstance(title, str):
            raise ServiceError.invalid({"resources": ["Give each resource's URI (and its title as text)."]})
        if server not in names:
            raise ServiceError.not_found("MCP server", server)
        entry = {"server": server, "uri": uri, "title": title[:200] or uri}
        if entry not in checked:
            checked.append(entry)
    return checked


# --- Prompts as slash commands ---------------------------------------------------------------------------------------

# `/<server>:<prompt> arg=value arg2="two words"`; a tool command (`/<tool> {json}`) has no colon after its name.
PROMPT_COMMAND = re.compile(r"^/([A-Za-z0-9_\-]+):([A-Za-z0-9_.\-]+)(?:\s+(.*))?$", re.DOTALL)


@dataclass
class PromptCommand:
    server: str
    name: str
    arguments: dict[str, str] = field(default_factory=dict)


def prompt_command_parse(content: Any) -> PromptCommand | None:
    """A message that asks for a server's prompt, or None for any other message."""
    if not isinstance(content, str):
        return None
    match = PROMPT_COMMAND.match(content.strip())
    if match is None:
        return None
    server, name, rest = match.groups()
    try:
        words = shlex.split(rest or "")
    except ValueError as exc:
        raise ServiceError("invalid_prompt", f"The prompt's arguments could not be read: {exc}.") from None
    arguments: dict[str, str] = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise ServiceError("invalid_prompt", f"Write each argument as name=value, not '{word[:64]}'.")
        arguments[key] = value
    return PromptCommand(server=server, name=name, arguments=arguments)


async def prompt_command_render(*, user: AbstractBaseUser, thread_id: str, command: PromptCommand) -> list[dict]:
    """The messages of the prompt a command asks for, after checking its name and arguments against what the
    server lists: an unknown prompt, an unknown argument or a missing required one is refused."""
    server = await _server(user=user, thread_id=thread_id, server_name=command.server)
    try:
        prompts = await mcp_server_prompt_list(server=server, user_id=user.pk, username=user.get_username())
    except MCPConnectError as exc:
        raise ServiceError("mcp_server_unavailable", str(exc)) from exc
    prompt = next((p for p in prompts if p["name"] == command.name), None)
    if prompt is None:
        known = ", ".join(p["name"] for p in prompts) or "none"
        raise ServiceError(
            "invalid_prompt", f"The MCP server '{server.name}' has no prompt '{command.name}' ({known})."
        )
    names = [argument["name"] for argument in prompt["arguments"]]
    unknown = sorted(set(command.arguments) - set(names))
    missing = [a["name"] for a in prompt["arguments"] if a["required"] and not command.arguments.get(a["name"])]
    if unknown or missing:
        usage = " ".join(f"{a['name']}=…" if a["required"] else f"[{a['name']}=…]" for a in prompt["arguments"])
        problem = f"unknown argument {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
        raise ServiceError(
            "invalid_prompt", f"/{server.name}:{command.name}: {problem}. Use: /{server.name}:{command.name} {usage}"
        )
    rendered = await conversation_mcp_prompt(
        user=user, thread_id=thread_id, server_name=server.name, name=command.name, arguments=command.arguments
    )
    messages = [m for m in rendered["messages"] if m["role"] in ("user", "assistant") and m["text"].strip()]
    if not messages:
        raise ServiceError("invalid_prompt", f"The prompt '{command.name}' has no messages.")
    return messages
