"""The per-process MCP connection pool.

Each live connection is owned by one long-lived task that opens the transport, waits, and closes
it again in the same task (anyio cancel scopes demand it). Runs borrow the connected server
concurrently from any task.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer

from core.metrics import mcp_reconnect_record
from mcp_servers.connection import Connection, error_text
from mcp_servers.errors import MCPConnectError
from mcp_servers.session import tool_progress, tool_task
from mcp_servers.transports import Transport

# The run executor sets `tool_progress` and `tool_task` for its run and imports them from here.
__all__ = ["MCPConnectError", "Pool", "get_pool", "tool_progress", "tool_task"]

logger = logging.getLogger(__name__)


BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# How long a close may take before its owner task is cancelled.
CLOSE_TIMEOUT = 10.0


@dataclass
class Failures:
    """Consecutive failed connects of one server, for backing off before the next try."""

    count: int = 0
    last_at: float = 0.0
    last_error: str = ""

    @property
    def retry_at(self) -> float:
        if not self.count:
            return 0.0
        return self.last_at + min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.count - 1))


class Pool:
    def __init__(self) -> None:
        self._connections: dict[tuple[int, int | None], Connection] = {}
        self._failures: dict[tuple[int, int | None], Failures] = {}
        # Taken out of the pool, their owner tasks still closing them: shutdown waits for these too.
        self._closing: set[Connection] = set()
        # Guards the bookkeeping only. Nothing is awaited while it is held: a close can take seconds (a stdio
        # server gets a grace period, then a SIGTERM, then a SIGKILL), and it must not stall other servers' runs.
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
        stale: list[Connection] = []
        try:
            async with self._lock:
                connection = self._connections.get(key)
                if connection is not None and (connection.fingerprint != fingerprint or not connection.alive):
                    # A changed configuration or a dead connection: replace it.
                    if connection.fingerprint == fingerprint:
                        mcp_reconnect_record(server=name)
                    self._detach(connection)
                    stale.append(connection)
                    connection = None
                if connection is None:
                    failures = self._failures.get(key)
                    if failures is not None and failures.retry_at > time.monotonic():
                        wait = failures.retry_at - time.monotonic()
                        reason = (
                            f"failed {failures.count} time(s) in a row ({failures.last_error}); "
                            f"next try in {wait:.1f} s"
                        )
                        raise MCPConnectError(f"MCP server '{name}' {reason}", reason=reason)
                    server = Transport.for_kind(params["transport"]).build(name=name, params=params, options=options)
                    connection = Connection(
                        key=key,
                        name=name,
                        fingerprint=fingerprint,
                        server=server,
                        connect_timeout=params["connect_timeout"],
                        call_timeout=params["call_timeout"],
                        idle_seconds=idle_seconds,
                        reacquire=functools.partial(
                            self.acquire,
                            server_id=server_id,
                            name=name,
                            params=params,
                            options=options,
                            user_id=user_id,
                            idle_seconds=idle_seconds,
                        ),
                    )
                    connection.task = asyncio.create_task(connection.own(), name=f"mcp:{name}")
                    connection.task.add_done_callback(lambda _task, c=connection: self._closing.discard(c))
                    self._connections[key] = connection
        finally:
            # Only the caller that replaced the connection waits for the old one, while the new one connects.
            await self._wait_closed(stale)
        connection.last_used = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.shield(connection.ready), timeout=connection.connect_timeout)
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # the caller itself was cancelled
            reason = "was closed while connecting"
            raise MCPConnectError(f"MCP server '{name}' {reason}", reason=reason) from None
        except TimeoutError:
            reason = f"did not connect within {connection.connect_timeout:g} s"
            await self._failed(connection, reason)
            raise MCPConnectError(f"MCP server '{name}' {reason}", reason=reason) from None
        except Exception as exc:
            cause = error_text(exc, server=name)
            await self._failed(connection, cause)
            failed = "could not be started" if params["transport"] == "stdio" else "could not connect"
            reason = f"{failed}: {cause}"
            raise MCPConnectError(f"MCP server '{name}' {reason}", reason=reason) from exc
        self._failures.pop(key, None)
        return connection.server

    async def _failed(self, connection: Connection, reason: str) -> None:
        failures = self._failures.setdefault(connection.key, Failures())
        failures.count += 1
        failures.last_at = time.monotonic()
        failures.last_error = reason
        await self._discard(connection)

    async def _discard(self, connection: Connection) -> None:
        async with self._lock:
            if self._connections.get(connection.key) is not connection:
                return
            self._detach(connection)
        await self._wait_closed([connection])

    def _detach(self, connection: Connection) -> None:
        """Take a connection out of the pool and tell its owner task to close it, waiting for nothing."""
        if self._connections.get(connection.key) is connection:
            del self._connections[connection.key]
        connection.stop.set()
        task = connection.task
        if task is not None and not task.done():
            if not connection.ready.done():
                # Still connecting: only a cancellation interrupts the handshake. The task may not have started
                # yet, and then never runs to tell its waiters, so tell them here.
                task.cancel()
                connection.ready.cancel()
            self._closing.add(connection)

    async def _wait_closed(self, connections: list[Connection]) -> None:
        """Wait for detached connections' owner tasks to finish closing them; call without holding the lock."""
        await asyncio.gather(*(self._wait_one_closed(c) for c in connections))

    async def _wait_one_closed(self, connection: Connection) -> None:
        task = connection.task
        if task is None:
            return
        # asyncio.wait neither cancels the owner task when this caller is cancelled nor raises its errors.
        done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
        if not done:
            logger.warning("MCP connection %s did not close within %g s; cancelling it", connection.name, CLOSE_TIMEOUT)
            task.cancel()
            await asyncio.wait({task})
        elif not task.cancelled() and task.exception() is not None:
            # The owner task already logged why it ended.
            logger.debug("MCP connection %s ended with an error", connection.name)

    async def close_all(self) -> None:
        async with self._lock:
            for connection in list(self._connections.values()):
                self._detach(connection)
            self._failures.clear()
            closing = list(self._closing)
        await self._wait_closed(closing)

    def forget_failures(self, server_id: int) -> None:
        """Let the next connect to this server go ahead at once (after an admin fixed or tested it)."""
        for key in [key for key in self._failures if key[0] == server_id]:
            del self._failures[key]

    def stats(self) -> dict[str, Any]:
        """What this process holds: a count, the server names, and one entry per connection."""
        connections = sorted(self._connections.values(), key=lambda c: (c.name, c.key[1] or 0))
        return {
            "connections": len(connections),
            "names": [c.name for c in connections],
            "details": [
                {
                    "server_id": c.key[0],
                    "name": c.name,
                    "user_id": c.key[1],
                    "connected": c.alive and c.ready.done(),
                    "idle_seconds": round(time.monotonic() - c.last_used, 1),
                }
                for c in connections
            ],
        }


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def get_pool() -> Pool:
    """Return this process's pool for the running event loop."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = Pool()
    return pool
