"""The per-process MCP connection pool.

Each live connection is owned by one long-lived task that opens the transport, waits, and closes
it again in the same task (anyio cancel scopes demand it). Runs borrow the connected server
concurrently from any task.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer

from mcp_servers.transports import Transport

logger = logging.getLogger(__name__)


class MCPConnectError(Exception):
    """An MCP server could not be reached; the message is safe to show to users."""


@dataclass
class Connection:
    key: tuple[int, int | None]
    name: str
    fingerprint: str
    server: AgentsMCPServer
    connect_timeout: float
    idle_seconds: float
    ready: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    last_used: float = field(default_factory=time.monotonic)
    task: asyncio.Task | None = None

    @property
    def alive(self) -> bool:
        if self.task is None or self.task.done():
            return False
        return not self.ready.done() or self.ready.exception() is None

    async def own(self) -> None:
        """Open, hold and close the connection, all in this one task."""
        try:
            await self.server.connect()
        except BaseException as exc:  # noqa: BLE001 - reported through the future
            if not self.ready.done():
                self.ready.set_exception(exc)
            return
        self.ready.set_result(None)
        try:
            while not self.stop.is_set():
                idle_for = time.monotonic() - self.last_used
                if idle_for >= self.idle_seconds:
                    logger.info("Closing idle MCP connection %s", self.name)
                    break
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=self.idle_seconds - idle_for)
                except TimeoutError:
                    pass
        finally:
            try:
                await self.server.cleanup()
            except Exception:  # noqa: BLE001 - a failing close must not hide the reason we closed
                logger.warning("MCP connection %s did not close cleanly", self.name)


class Pool:
    def __init__(self) -> None:
        self._connections: dict[tuple[int, int | None], Connection] = {}
        self._lock = asyncio.Lock()

    async def acquire(
        self,
        *,
        server_id: int,
        name: str,
        params: dict[str, Any],
        options: dict[str, Any],
        user_id: int | None,
        idle_seconds: float,
    ) -> AgentsMCPServer:
        """Return a connected server for this configuration, reusing a live connection."""
        key = (server_id, user_id)
        fingerprint = hashlib.sha256(json.dumps([params, options], sort_keys=True, default=str).encode()).hexdigest()
        async with self._lock:
            connection = self._connections.get(key)
            if connection is not None and (connection.fingerprint != fingerprint or not connection.alive):
                # A changed configuration or a dead connection: replace it.
                await self._close(connection)
                connection = None
            if connection is None:
                server = Transport.for_kind(params["transport"]).build(name=name, params=params, options=options)
                connection = Connection(
                    key=key,
                    name=name,
                    fingerprint=fingerprint,
                    server=server,
                    connect_timeout=params["connect_timeout"],
                    idle_seconds=idle_seconds,
                )
                connection.task = asyncio.create_task(connection.own(), name=f"mcp:{name}")
                self._connections[key] = connection
        connection.last_used = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.shield(connection.ready), timeout=connection.connect_timeout)
        except TimeoutError:
            await self._discard(connection)
            raise MCPConnectError(
                f"MCP server '{name}' did not connect within {connection.connect_timeout:g} s"
            ) from None
        except Exception as exc:
            await self._discard(connection)
            raise MCPConnectError(f"MCP server '{name}' could not be started: {_describe(exc)}") from exc
        return connection.server

    async def _discard(self, connection: Connection) -> None:
        async with self._lock:
            if self._connections.get(connection.key) is connection:
                await self._close(connection)

    async def _close(self, connection: Connection) -> None:
        self._connections.pop(connection.key, None)
        connection.stop.set()
        if connection.task is not None and not connection.task.done():
            if not connection.ready.done():
                connection.task.cancel()
            try:
                await asyncio.wait_for(connection.task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                connection.task.cancel()
            except Exception:  # noqa: BLE001 - the owner task already logged why it ended
                logger.debug("MCP connection %s ended with an error", connection.name)

    async def close_all(self) -> None:
        async with self._lock:
            for connection in list(self._connections.values()):
                await self._close(connection)

    def stats(self) -> dict[str, Any]:
        return {"connections": len(self._connections), "names": sorted(c.name for c in self._connections.values())}


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def get_pool() -> Pool:
    """Return this process's pool for the running event loop."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = Pool()
    return pool
