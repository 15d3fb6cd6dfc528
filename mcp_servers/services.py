"""Workflows for MCP server configurations."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from agents import custom_span
from agents.mcp import MCPServer as AgentsMCPServer
from agents.tracing import SpanError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import slugify
from mcp.shared.exceptions import MCPError
from mcp_types import PaginatedRequestParams

from core.errors import ServiceError
from core.network import url_refusal_async
from mcp_servers.connection import error_text
from mcp_servers.errors import MCPConnectError
from mcp_servers.models import MCPServer
from mcp_servers.oauth import (
    OAUTH_TRANSPORTS,
    AuthorizationRequired,
    OAuthError,
    oauth_account_for,
    oauth_connect_path,
    oauth_discover,
    oauth_launch_params,
)
from mcp_servers.pool import get_pool
from mcp_servers.results import Budget, content_part, part_text, size_text
from mcp_servers.transports import Transport
from mcp_servers.ui import AppUnusable, app_html

logger = logging.getLogger(__name__)


def mcp_server_approval_setting(server: MCPServer) -> Any:
    if server.approval == MCPServer.Approval.ALWAYS:
        return "always"
    if server.approval == MCPServer.Approval.LISTED and server.approval_tools:
        return {"always": {"tool_names": list(server.approval_tools)}}
    return None


async def mcp_server_connect(*, server: MCPServer, user_id: int, username: str) -> AgentsMCPServer:
    """Borrow a live connection to this server from the process pool."""
    per_user = server.scope == MCPServer.Scope.PER_USER
    if server.transport != MCPServer.Transport.STDIO and (refusal := await url_refusal_async(server.url)):
        raise MCPConnectError(f"MCP server '{server.name}': {refusal}", reason=refusal)
    params = server.launch_params(user_id=user_id, username=username)
    # A server that wants each user to sign in connects once per user, with that user's own token.
    signed_in = await oauth_launch_params(server=server, params=params, user_id=user_id)
    if signed_in is not None:
        params, per_user = signed_in, True
    pool = get_pool()
    owner = user_id if per_user else None
    reused = any(
        c["server_id"] == server.pk and c["user_id"] == owner and c["connected"] for c in pool.stats()["details"]
    )
    # A step of the run's trace (nothing outside one): how long borrowing took, and whether it had to connect.
    with custom_span("mcp.connect", {"server": server.name, "transport": server.transport, "reused": reused}) as span:
        try:
            return await pool.acquire(
                server_id=server.pk,
                name=server.name,
                params=params,
                options={
                    "allowed_tools": server.allowed_tools,
                    "denied_tools": server.denied_tools,
                    "require_approval": mcp_server_approval_setting(server),
                },
                user_id=owner,
                idle_seconds=settings.SWITCHBOARD["MCP_IDLE_SECONDS"],
            )
        except Exception as exc:
            span.set_error(SpanError(message="MCP server did not connect", data={"error": error_text(exc)}))
            if isinstance(exc, MCPConnectError):
                await _unauthorized_check(server=server, user_id=user_id, signed_in=signed_in is not None, error=exc)
            raise


async def _unauthorized_check(*, server: MCPServer, user_id: int, signed_in: bool, error: MCPConnectError) -> None:
    """Raise AuthorizationRequired if a connection failed for want of the user's sign-in: their tokens stopped
    working (and were dropped), or the server turns out to want each user to sign in (its configuration said
    nothing of it)."""
    if signed_in:
        if await oauth_account_for(server=server, user_id=user_id) is None:
            raise AuthorizationRequired(server, again=True) from error
        return
    if server.transport not in OAUTH_TRANSPORTS:
        return
    try:
        discovered = await oauth_discover(server=server)
    except OAuthError as exc:
        logger.warning("MCP server %s asks for sign-in, but: %s", server.name, exc)
        return
    if discovered is not None:
        raise AuthorizationRequired(server) from error


@dataclass
class CheckResult:
    """What a connection check found: the tools, or the exact reason it failed."""

    ok: bool
    checked_at: datetime
    latency_ms: float | None = None
    connect_ms: float | None = None
    error: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)


def _tool_entry(server: MCPServer, tool: Any) -> dict[str, Any]:
    schema = getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", None) or {}
    return {
        "name": tool.name,
        "description": tool.description or "",
        "input_schema": schema,
        "allowed": server.allows_tool(tool.name),
        "needs_approval": server.needs_approval(tool.name),
    }


def _where(server: MCPServer, error: str) -> str:
    """Name the host a network transport failed to reach; the SDK's message leaves it out."""
    if server.transport == MCPServer.Transport.STDIO:
        return error
    parts = urlsplit(server.url)
    # Host and port only: the URL's user info or query may hold credentials.
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return error if host in error else f"{error.rstrip('.')} ({host})."


async def mcp_server_check(*, server: MCPServer, user_id: int | None = None, username: str = "") -> CheckResult:
    """Connect to a server on a fresh connection, list its tools, and store what was found.

    The pool is left alone, so a check never disturbs runs in progress; a successful check lets
    the pool retry a server it had backed off from at once.
    """
    if server.transport != MCPServer.Transport.STDIO and (refusal := await url_refusal_async(server.url)):
        result = CheckResult(ok=False, checked_at=timezone.now(), error=refusal)
        server.last_status, server.last_error = MCPServer.Status.ERROR, refusal
        server.last_checked_at = result.checked_at
        await server.asave(update_fields=["last_status", "last_error", "last_checked_at"])
        return result
    params = server.launch_params(user_id=user_id, username=username)
    try:
        # A server that wants each user to sign in is checked as the one asking, if they connected their account.
        params = await oauth_launch_params(server=server, params=params, user_id=user_id or 0) or params
    except AuthorizationRequired:
        pass
    # No tool filter: the check shows everything the server offers, marking what the configuration allows.
    connection = Transport.for_kind(params["transport"]).build(name=server.name, params=params, options={})
    started = time.perf_counter()
    connect_ms: float | None = None
    try:
        # Opened and closed in this one task, as MCP sessions require.
        async with asyncio.timeout(server.connect_timeout):
            await connection.connect()
            connect_ms = (time.perf_counter() - started) * 1000
            tools = await connection.list_tools()
        result = CheckResult(
            ok=True,
            checked_at=timezone.now(),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            connect_ms=round(connect_ms, 1),
            tools=[_tool_entry(server, tool) for tool in tools],
        )
    except TimeoutError:
        stage = "list its tools" if connect_ms is not None else "connect"
        result = CheckResult(
            ok=False, checked_at=timezone.now(), error=f"Did not {stage} within {server.connect_timeout:g} s."
        )
    except Exception as exc:  # noqa: BLE001 - every failure is the check's answer
        result = CheckResult(
            ok=False, checked_at=timezone.now(), error=_where(server, error_text(exc, server=server.name))
        )
        if "oauth_account" not in params and (signed := await _sign_in_needed(server)):
            result.error = signed
    finally:
        try:
            await connection.cleanup()
        except Exception:  # noqa: BLE001 - the check's answer matters more than a messy close
            logger.debug("Closing the check connection to %s failed", server.name)
    server.last_status = MCPServer.Status.CONNECTED if result.ok else MCPServer.Status.ERROR
    server.last_error = result.error
    server.last_latency_ms = result.latency_ms
    server.last_checked_at = result.checked_at
    if result.ok:
        server.last_tools = result.tools
    await server.asave(update_fields=["last_status", "last_error", "last_latency_ms", "last_checked_at", "last_tools"])
    if result.ok:
        get_pool().forget_failures(server.pk)
    return result


async def _sign_in_needed(server: MCPServer) -> str:
    """Why a check could not list a server's tools if it wants each user to sign in ("" if it does not)."""
    if server.transport not in OAUTH_TRANSPORTS:
        return ""
    try:
        found = await oauth_discover(server=server)
    except OAuthError as exc:
        return str(exc)
    if found is None:
        return ""
    return (
        f"Asks each user to sign in with OAuth (authorization server {found.issuer}); each user connects their "
        f"own account at {oauth_connect_path(server)}. Connect yours there to check it as you."
    )


# --- A user's own remote servers --------------------------------------------------------------------------------

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


# --- Resources and prompts, for the chat composer -------------------------------------------------------------------

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
