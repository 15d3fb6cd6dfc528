"""Switchboard's MCP server over WebSocket at `/mcp/ws`: JSON-RPC as text frames, subprotocol `mcp`.

Programs connect here, not browsers, so the socket is authenticated by the `Authorization: Bearer`
header of the handshake rather than by a session cookie. One MCP session per socket, served in a task
of its own that acts as the token's user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from mcp.types import PARSE_ERROR

from chat.mcp_http import origin_allowed, scope_user
from chat.mcp_server import acting_user, server
from core.api import BODY_MAX_BYTES
from core.errors import ServiceError
from core.sockets import socket_close, socket_open
from mcp_servers.websocket import SUBPROTOCOL, websocket_session_serve

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_TOO_BIG = 1009
CLOSE_TOO_MANY = 4429
SOCKET_KIND = "mcp"
# The same limit as a request body of the HTTP endpoint and the `/v1/` API.
FRAME_MAX_BYTES = BODY_MAX_BYTES
# Frames waiting for the session: a client that sends faster than it is served waits for room.
INBOX_SIZE = 32
SESSION_CLOSE_SECONDS = 5.0


class MCPConsumer(AsyncWebsocketConsumer):
    session: asyncio.Task[None] | None = None
    inbox: asyncio.Queue[str | None]
    user_id: int | None = None

    async def connect(self) -> None:
        subprotocol = SUBPROTOCOL if SUBPROTOCOL in self.scope.get("subprotocols", []) else None
        if not origin_allowed(self.scope):
            await self.accept(subprotocol=subprotocol)
            await self.close(code=CLOSE_FORBIDDEN_ORIGIN)
            return
        try:
            user = await scope_user(self.scope)
        except ServiceError:  # too many failed tokens from this address
            await self.accept(subprotocol=subprotocol)
            await self.close(code=CLOSE_TOO_MANY)
            return
        # Accept, then close with a code the client can tell apart from a network failure.
        await self.accept(subprotocol=subprotocol)
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not socket_open(kind=SOCKET_KIND, user_id=user.pk, limit=settings.SWITCHBOARD["MCP_SESSIONS_PER_USER"]):
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.user_id = user.pk
        self.inbox = asyncio.Queue(maxsize=INBOX_SIZE)
        self.session = asyncio.create_task(self._serve(user), name="mcp-websocket-session")

    async def _serve(self, user: Any) -> None:
        # Set in this task only: the session's handlers inherit it, nothing else sees it.
        acting_user.set(user)
        try:
            await websocket_session_serve(server, receive=self.inbox.get, send=self._send_text)
        finally:
            with contextlib.suppress(Exception):
                await self.close()

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        size = len(text_data.encode("utf-8", "surrogatepass")) if text_data is not None else len(bytes_data or b"")
        if size > FRAME_MAX_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        # Every frame re-checks the token (one indexed read): a revoked or expired token ends the session too.
        user = await scope_user(self.scope, counted=False)
        if user is None or user.pk != self.user_id:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        frame = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        try:
            json.loads(frame)
        except ValueError:
            # JSON-RPC's answer to what is not JSON: a parse error, with no id to answer to.
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}}
            await self.send(text_data=json.dumps(error))
            return
        await self.inbox.put(frame)

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            socket_close(kind=SOCKET_KIND, user_id=self.user_id)
            self.user_id = None
        session = self.session
        if session is None or session.done():
            return
        try:
            self.inbox.put_nowait(None)  # end of input: the session finishes what it is doing and stops
        except asyncio.QueueFull:
            session.cancel()
        try:
            await asyncio.wait_for(session, timeout=SESSION_CLOSE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            session.cancel()
