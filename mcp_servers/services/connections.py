"""Connecting to an MCP server: borrowing a live connection from the pool for a run, and checking a server on a
fresh connection of its own."""

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
from django.utils import timezone

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
from mcp_servers.transports import Transport

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
