"""Switchboard's MCP server over Streamable HTTP at `/mcp/`, with Bearer tokens.

Stateless: every POST is authenticated and served on its own, so any Daphne process behind a proxy can
answer any request and no session lives in one process's memory. A request is answered with JSON, unless
it may need a stream: one that asked for progress, and any request of the 2026-07-28 revision, which
is answered with JSON when it ends quickly and silently, and otherwise with an SSE stream whose closing
cancels it. The SDK's session managers need a long-lived task to run in; Daphne has no ASGI lifespan,
so the first request starts them per event loop, owned by the loop rather than by that request.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from chat.mcp_server import SCOPE_USER_KEY, http_call_cancelled, server
from core.api import BODY_MAX_BYTES
from core.errors import ServiceError
from core.oauth_server import ACCESS_PREFIX, access_token_authenticate
from core.oauth_views import MCP_PATH, resource_metadata_url
from core.origin import origin_allowed as same_origin
from core.origin import request_scheme
from core.ratelimit import RateLimited, rate_limit_hit
from core.throttle import scope_address
from core.tokens import bearer_token, token_authenticate

logger = logging.getLogger(__name__)

MCP_PATHS = frozenset({"/mcp", "/mcp/"})
DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]

Scope = dict[str, Any]


@dataclass
class _Running:
    manager: StreamableHTTPSessionManager
    ready: asyncio.Future[None]
    task: asyncio.Task[None]


# One manager answering with JSON and one that may stream, per event loop.
_running: dict[tuple[asyncio.AbstractEventLoop, bool], _Running] = {}


async def _own(manager: StreamableHTTPSessionManager, ready: asyncio.Future[None]) -> None:
    """Run the session manager until the loop ends: opened and closed in this one task."""
    try:
        async with manager.run():
            ready.set_result(None)
            await asyncio.Event().wait()
    except BaseException as exc:
        if not ready.done():
            ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError("MCP session manager stopped"))
        raise


async def session_manager(*, stream: bool = False) -> StreamableHTTPSessionManager:
    """This event loop's running session manager (the streaming one if `stream`), started on first use."""
    loop = asyncio.get_running_loop()
    running = _running.get((loop, stream))
    if running is None or running.task.done():
        manager = StreamableHTTPSessionManager(
            app=server._lowlevel_server,  # MCPServer keeps its low-level server private
            json_response=not stream,
            stateless=True,
            max_request_body_size=BODY_MAX_BYTES,
            # Host and Origin are checked against ALLOWED_HOSTS below, as Django checks them.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        ready: asyncio.Future[None] = loop.create_future()
        # A fresh context: the manager's task must not carry anything of the request that happened to start it.
        task = loop.create_task(_own(manager, ready), name="mcp-http-sessions", context=contextvars.Context())
        running = _running[(loop, stream)] = _Running(manager=manager, ready=ready, task=task)
    await asyncio.shield(running.ready)
    return running.manager


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _allowed_hosts() -> list[str]:
    return settings.ALLOWED_HOSTS or (DEBUG_HOSTS if settings.DEBUG else [])


def _host_allowed(host: str | None) -> bool:
    domain, _ = split_domain_port(host or "")
    return bool(domain) and validate_host(domain, _allowed_hosts())


def origin_allowed(scope: Scope) -> bool:
    """No Origin (a program, not a browser) is fine; a browser's must be this very site, port included."""
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    return same_origin(origin=origin, host=_header(scope, b"host"), scheme=request_scheme(scope))


def _challenge(scope: Scope) -> bytes:
    metadata = resource_metadata_url(_base_url(scope))
    return f'Bearer realm="switchboard", resource_metadata="{metadata}"'.encode("latin-1", "replace")


async def _respond(send: Any, status: int, message: str, *, code: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": {"message": message, "code": code}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def scope_user(scope: Scope, *, counted: bool = True) -> Any:
    """The active user whose token is in the request's `Authorization: Bearer` header, or None.

    `counted`: a failed token counts against the caller's address, as on `/v1/`, and an address past the limit
    is refused (ServiceError `rate_limited`). An open session's re-check of its own token is not counted.
    """
    raw = bearer_token(_header(scope, b"authorization"))
    if not raw:
        return None
    address = scope_address(scope) if counted else None
    if raw.startswith(ACCESS_PREFIX):  # signed in through Switchboard's OAuth server, for this endpoint
        resource = f"{_base_url(scope)}{MCP_PATH}"
        return await sync_to_async(access_token_authenticate)(raw, resource=resource, address=address)
    return await sync_to_async(token_authenticate)(raw, address=address)


def _base_url(scope: Scope) -> str:
    return f"{request_scheme(scope)}://{_header(scope, b'host') or ''}"


async def mcp_http_app(scope: Scope, receive: Any, send: Any) -> None:
    """Serve one Streamable HTTP request as the token's user."""
    if not _host_allowed(_header(scope, b"host")):
        await _respond(send, 400, "Invalid Host header.", code="invalid_host")
        return
    if not origin_allowed(scope):
        await _respond(send, 403, "Invalid Origin header.", code="invalid_origin")
        return
    if scope.get("method") != "POST":
        # Stateless: no stream to open with GET and no session to end with DELETE, so say so at once.
        await _respond(
            send, 405, "This endpoint takes POST only.", code="method_not_allowed", headers=[(b"allow", b"POST")]
        )
        return
    try:
        user = await scope_user(scope)
    except ServiceError as exc:  # too many failed tokens from this address
        retry = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else []
        await _respond(send, exc.status, exc.message, code="rate_limit_exceeded", headers=retry)
        return
    if user is None:
        await _respond(
            send,
            401,
            "Sign in from an MCP client that supports MCP authorization, or send a valid API token as "
            "'Authorization: Bearer <token>' (create one on your settings page or with 'manage.py create_token').",
            code="invalid_api_key",
            # RFC 9728: where an MCP client finds how to sign in and get a token.
            headers=[(b"www-authenticate", _challenge(scope))],
        )
        return
    try:
        # The same per-user request limit as `/v1/`: an MCP client is a program like any other.
        await sync_to_async(rate_limit_hit)(
            scope="api", user_id=user.pk, limit=settings.SWITCHBOARD["RATE_API_PER_MINUTE"], what="API requests"
        )
    except RateLimited as exc:
        await _respond(
            send, 429, str(exc), code="rate_limit_exceeded", headers=[(b"retry-after", str(exc.retry_after).encode())]
        )
        return
    body, receive = await _body_read(receive)
    message = _message(body)
    if _is_legacy(scope) and message.get("method") == "notifications/cancelled":
        request_id = (message.get("params") or {}).get("requestId")
        if isinstance(request_id, str | int) and not isinstance(request_id, bool):
            # Stateless, so no session here knows the call: find it by this user and its request id.
            http_call_cancelled(user=user, request_id=request_id)
    manager = await session_manager(stream=_may_stream(scope, message))
    await manager.handle_request({**scope, SCOPE_USER_KEY: user}, receive, send)


async def _body_read(receive: Any) -> tuple[bytes, Any]:
    """The request's body (up to the size limit), and a `receive` that hands it on to the MCP endpoint."""
    chunks: list[bytes] = []
    size = 0
    more = True
    ended: list[dict[str, Any]] = []
    while more and size <= BODY_MAX_BYTES:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            ended.append(message)
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    body = b"".join(chunks)
    pending = [{"type": "http.request", "body": body, "more_body": more and not ended}, *ended]

    async def replay() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return body, replay


def _message(body: bytes) -> dict[str, Any]:
    """The JSON-RPC message a body holds, as far as routing it needs; empty if it is not one."""
    try:
        message = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(message, dict) or not isinstance(message.get("params", {}), dict):
        return {}
    return message


def _is_legacy(scope: Scope) -> bool:
    """Whether a request is of a revision with the initialize handshake (before 2026-07-28)."""
    version = _header(scope, b"mcp-protocol-version")
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


def _may_stream(scope: Scope, message: dict[str, Any]) -> bool:
    """Whether a request may be answered with a stream: it is of the 2026-07-28 revision, or asks for progress."""
    if not _is_legacy(scope):
        return True
    meta = (message.get("params") or {}).get("_meta")
    return isinstance(meta, dict) and meta.get("progressToken") is not None


class MCPHttpRouter:
    """Send `/mcp` and `/mcp/` to the MCP endpoint, everything else to `fallback` (Django)."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in MCP_PATHS:
            await mcp_http_app(scope, receive, send)
            return
        await self.fallback(scope, receive, send)
