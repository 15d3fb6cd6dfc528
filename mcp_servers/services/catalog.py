"""Resources and prompts of MCP servers, for the chat composer: listed, read and rendered through the pool."""

from __future__ import annotations

from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import PaginatedRequestParams

from core.errors import ServiceError
from mcp_servers.models import MCPServer
from mcp_servers.results import Budget, content_part, part_text, size_text
from mcp_servers.services.connections import mcp_server_connect
from mcp_servers.ui import AppUnusable, app_html

# A resource attached to a message keeps at most this many characters of its text.
RESOURCE_TEXT_MAX_CHARS = 8_000


# Each list request's field of items.
_LISTED = {"list_resources": "resources", "list_resource_templates": "resource_templates", "list_prompts": "prompts"}


async def _listed(server: AgentsMCPServer, method: str, capability: str) -> list[Any]:
    """Every page of a list request, or nothing from a server that does not offer the capability."""
    session = server.session
    capabilities = getattr(session, "server_capabilities", None)
    if capabilities is not None and getattr(capabilities, capability, None) is None:
        return []
    items: list[Any] = []
    cursor = None
    for _ in range(20):  # a server that pages forever is cut off
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        try:
            page = await getattr(session, method)(params=params)
        except MCPError as exc:
            raise ServiceError(
                "mcp_server_error", f"MCP server '{server.name}' could not list its {capability}: {exc}"
            ) from exc
        items.extend(getattr(page, _LISTED[method]))
        cursor = page.next_cursor
        if not cursor:
            break
    return items


async def mcp_server_catalog(*, server: MCPServer, user_id: int, username: str) -> dict[str, list[dict[str, Any]]]:
    """The resources, resource templates and prompts a server offers (`resources/list`,
    `resources/templates/list`, `prompts/list`), through the pool."""
    connected = await mcp_server_connect(server=server, user_id=user_id, username=username)
    resources = await _listed(connected, "list_resources", "resources")
    try:
        templates = await _listed(connected, "list_resource_templates", "resources")
    except ServiceError:
        templates = []  # a server with resources but no templates may not answer the request at all
    prompts = await _listed(connected, "list_prompts", "prompts")
    return {
        "resources": [
            _named_entry(server, resource) | {"uri": str(resource.uri), "mime_type": resource.mime_type or ""}
            for resource in resources
        ],
        "templates": [
            _named_entry(server, template) | {"uri_template": str(template.uri_template)} for template in templates
        ],
        "prompts": [_prompt_entry(server, prompt) for prompt in prompts],
    }


def _named_entry(server: MCPServer, offered: Any) -> dict[str, Any]:
    """What every resource, template and prompt of a server's catalog says of itself."""
    return {
        "server": server.name,
        "name": offered.name,
        "title": offered.title or offered.name,
        "description": offered.description or "",
    }


def _prompt_entry(server: MCPServer, prompt: Any) -> dict[str, Any]:
    return _named_entry(server, prompt) | {
        "arguments": [
            {"name": argument.name, "description": argument.description or "", "required": bool(argument.required)}
            for argument in prompt.arguments or []
        ],
    }


async def mcp_server_prompt_list(*, server: MCPServer, user_id: int, username: str) -> list[dict[str, Any]]:
    """The prompts a server offers (`prompts/list`), through the pool."""
    connected = await mcp_server_connect(server=server, user_id=user_id, username=username)
    return [_prompt_entry(server, prompt) for prompt in await _listed(connected, "list_prompts", "prompts")]


async def mcp_server_resource_read(*, server: MCPServer, user_id: int, username: str, uri: str) -> str:
    """A resource's contents as text (a binary one described), cut to RESOURCE_TEXT_MAX_CHARS."""
    connected = await mcp_server_connect(server=server, user_id=user_id, username=username)
    try:
        result = await connected.session.read_resource(uri)
    except MCPError as exc:
        raise ServiceError("mcp_server_error", f"MCP server '{server.name}' could not read {uri}: {exc}") from exc
    texts = []
    for contents in result.contents:
        text = getattr(contents, "text", None)
        if text is None:
            size = len(getattr(contents, "blob", "") or "") * 3 // 4
            text = f"[{contents.mime_type or 'binary'} contents, {size_text(size)}, not shown]"
        texts.append(text)
    text = "\n".join(texts)
    if len(text) > RESOURCE_TEXT_MAX_CHARS:
        text = text[:RESOURCE_TEXT_MAX_CHARS] + f"\n[… cut at {RESOURCE_TEXT_MAX_CHARS} characters]"
    return text


async def mcp_server_app_read(*, server: MCPServer, user_id: int, username: str, uri: str) -> str:
    """A tool's view (MCP Apps): the HTML of its `ui://` resource, read through the pool and bounded."""
    if not uri.startswith("ui://"):
        raise ServiceError.invalid({"uri": ["A view is a ui:// resource."]})
    connected = await mcp_server_connect(server=server, user_id=user_id, username=username)
    try:
        result = await connected.session.read_resource(uri)
    except MCPError as exc:
        raise ServiceError("mcp_server_error", f"MCP server '{server.name}' could not read {uri}: {exc}") from exc
    try:
        return app_html(result.contents, uri=uri)
    except AppUnusable as exc:
        raise ServiceError("mcp_server_error", f"MCP server '{server.name}': {exc}") from exc


async def mcp_server_prompt_get(
    *, server: MCPServer, user_id: int, username: str, name: str, arguments: dict[str, str]
) -> list[dict[str, str]]:
    """A prompt rendered with its arguments (`prompts/get`): its messages as (role, text)."""
    connected = await mcp_server_connect(server=server, user_id=user_id, username=username)
    try:
        result = await connected.session.get_prompt(name, arguments)
    except MCPError as exc:
        raise ServiceError("invalid_prompt", f"MCP server '{server.name}' could not render {name}: {exc}") from exc
    messages = []
    for message in result.messages:
        content = message.content
        if getattr(content, "type", "") == "text":
            text = content.text
        elif getattr(content, "type", "") == "resource" and getattr(content.resource, "text", None) is not None:
            text = content.resource.text
        else:
            text = part_text(content_part(content, Budget()))
        messages.append({"role": str(message.role), "text": text})
    return messages
