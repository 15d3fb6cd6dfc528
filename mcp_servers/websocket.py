"""MCP over WebSocket: JSON-RPC messages as text frames, subprotocol `mcp`.

mcp 2.x ships no WebSocket transport. This module gives both ends the same stream pair every
other MCP transport yields, so `ClientSession` and the low-level server run over it unchanged:
`websocket_client` for connecting to a server, `websocket_session_serve` for serving an MCP
server over any WebSocket implementation (the `websockets` library here, Channels in Switchboard).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
import websockets
from mcp.shared.message import SessionMessage
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed

logger = logging.getLogger(__name__)

SUBPROTOCOL = "mcp"
MAX_FRAME_BYTES = 16 * 1024 * 1024
PING_INTERVAL = 20.0


def message_parse(text: str | bytes) -> SessionMessage | Exception:
    """One frame as a session message, or the validation error the session reports to its peer."""
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(text, by_name=False))
    except ValidationError as exc:
        return exc


def message_dump(message: SessionMessage) -> str:
    return message.message.model_dump_json(by_alias=True, exclude_unset=True)


@asynccontextmanager
async def websocket_client(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    open_timeout: float = 10.0,
    ping_interval: float | None = PING_INTERVAL,
) -> AsyncIterator[tuple[Any, Any]]:
    """Connect to an MCP server over WebSocket and yield (read stream, write stream).

    When the peer goes away the read stream ends, so pending requests fail with the session's
    "connection closed" error instead of hanging.
    """
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](16)
    async with websockets.connect(
        url,
        subprotocols=[SUBPROTOCOL],
        additional_headers=headers or None,
        open_timeout=open_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_interval,
        max_size=MAX_FRAME_BYTES,
    ) as ws:
        if ws.subprotocol != SUBPROTOCOL:
            raise ConnectionError(f"The server at {url} does not speak the '{SUBPROTOCOL}' WebSocket subprotocol")

        async def read() -> None:
            async with read_send:
                try:
                    async for frame in ws:
                        await read_send.send(message_parse(frame))
                except ConnectionClosed as exc:
                    logger.info("MCP WebSocket %s closed: %s", url, exc)

        async def write() -> None:
            async with write_receive:
                try:
                    async for message in write_receive:
                        await ws.send(message_dump(message))
                except ConnectionClosed:
                    pass

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read)
            tasks.start_soon(write)
            try:
                yield read_receive, write_send
            finally:
                tasks.cancel_scope.cancel()


async def websocket_session_serve(
    server: Any,
    *,
    receive: Callable[[], Awaitable[str | None]],
    send: Callable[[str], Awaitable[None]],
) -> None:
    """Serve one MCP session of an `mcp` server (high- or low-level) over a WebSocket.

    `receive` returns the next text frame, or None once the socket has closed; `send` writes one.
    """
    server = getattr(server, "_lowlevel_server", server)  # MCPServer keeps its low-level server private
    read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](16)

    async def pump_in() -> None:
        async with read_send:
            while (frame := await receive()) is not None:
                await read_send.send(message_parse(frame))

    async def pump_out() -> None:
        async with write_receive:
            async for message in write_receive:
                await send(message_dump(message))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(pump_in)
        tasks.start_soon(pump_out)
        await server.run(read_receive, write_send, server.create_initialization_options())
        tasks.cancel_scope.cancel()


async def websocket_serve(server: Any, *, host: str, port: int) -> None:
    """Serve an `mcp` server on ws://host:port/ until cancelled, one session per socket."""

    async def handle(ws: Any) -> None:
        async def receive() -> str | None:
            try:
                frame = await ws.recv()
            except ConnectionClosed:
                return None
            return frame if isinstance(frame, str) else frame.decode("utf-8", "replace")

        async def send(text: str) -> None:
            try:
                await ws.send(text)
            except ConnectionClosed:
                pass

        await websocket_session_serve(server, receive=receive, send=send)

    async with websockets.serve(
        handle, host, port, subprotocols=[SUBPROTOCOL], max_size=MAX_FRAME_BYTES, ping_interval=PING_INTERVAL
    ) as listener:
        await listener.serve_forever()
