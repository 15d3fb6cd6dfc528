"""One pooled connection: the long-lived task that opens it, holds it and closes it again (anyio cancel scopes
demand one task), and puts a TimedSession where the Agents SDK reads its session."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.client.subscriptions import listen
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from core.metrics import mcp_connection_close_record, mcp_connection_open_record
from mcp_servers.session import TimedSession, session_closed
from mcp_servers.transports import ClientHooks

logger = logging.getLogger(__name__)


@dataclass(eq=False)  # compared and hashed by identity: the pool keeps a set of them
class Connection:
    key: tuple[int, int | None]
    name: str
    fingerprint: str
    server: AgentsMCPServer
    connect_timeout: float
    call_timeout: float
    idle_seconds: float
    # Borrows this server's connection from the pool again: a new one once this one is gone.
    reacquire: Callable[[], Awaitable[AgentsMCPServer]] | None = None
    ready: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    last_used: float = field(default_factory=time.monotonic)
    task: asyncio.Task | None = None

    @property
    def alive(self) -> bool:
        if self.task is None or self.task.done() or self.stop.is_set():
            return False
        if not self.ready.done():
            return True
        if self.ready.cancelled():
            return False
        return self.ready.exception() is None and not session_closed(self.server.session)

    async def own(self) -> None:
        """Open, hold and close the connection, all in this one task."""
        try:
            await self.server.connect()
        except asyncio.CancelledError:
            # Cancelled while connecting (a close or a shutdown): waiters see the cancellation.
            self.ready.cancel()
            raise
        except BaseException as exc:  # noqa: BLE001 - reported through the future
            if not self.ready.done():
                self.ready.set_exception(exc)
            return
        session = self.server.session
        hooks = self.server.message_handler
        self.server.session = TimedSession(
            session,
            server_name=self.name,
            call_timeout=self.call_timeout,
            calls=hooks.calls if isinstance(hooks, ClientHooks) else None,
            reconnect=self._reacquired if self.reacquire is not None else None,
        )
        watcher = asyncio.create_task(self._watch_tool_changes(session), name=f"mcp-listen:{self.name}")
        if not self.ready.done():  # else the pool gave up on it meanwhile and set `stop`: close it below
            self.ready.set_result(None)
        mcp_connection_open_record(server=self.name)
        try:
            while not self.stop.is_set():
                if session_closed(self.server.session):
                    logger.warning("MCP connection %s was lost", self.name)
                    break
                idle_for = time.monotonic() - self.last_used
                if idle_for >= self.idle_seconds:
                    logger.info("Closing idle MCP connection %s", self.name)
                    break
                try:
                    # Wake at least every few seconds to notice a transport that went away.
                    await asyncio.wait_for(self.stop.wait(), timeout=min(self.idle_seconds - idle_for, 5.0))
                except TimeoutError:
                    pass
        finally:
            mcp_connection_close_record(server=self.name)
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            try:
                await self.server.cleanup()
            except Exception:  # noqa: BLE001 - a failing close must not hide the reason we closed
                logger.warning("MCP connection %s did not close cleanly", self.name)

    async def _reacquired(self) -> AgentsMCPServer:
        """A new connection to this server once this one is gone; the runs that hold this one's server (their agents
        do) go on over the new one."""
        server = await self.reacquire()
        if server is not self.server:
            self.server.session = server.session
        return server

    async def _watch_tool_changes(self, session: Any) -> None:
        """Drop the cached tool list whenever the server says its tools changed.

        On the 2026-07-28 protocol such changes come only on a `subscriptions/listen` stream;
        older servers send notifications, which the transport's message handler catches.
        """
        if getattr(session, "protocol_version", None) not in MODERN_PROTOCOL_VERSIONS:
            return
        listening = False
        try:
            async with listen(session, tools_list_changed=True) as subscription:
                listening = True
                async for _event in subscription:
                    self.server.invalidate_tools_cache()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a server without listen support still serves its tools
            if listening or session_closed(session):
                # The connection went; the owner task notices and closes it.
                logger.debug("MCP server %s stopped sending tool change events (%s)", self.name, error_text(exc))
            else:
                logger.info("MCP server %s gives no tool change events (%s)", self.name, error_text(exc))


def error_text(exc: BaseException, *, server: str = "") -> str:
    """The innermost reason of a failure, as one line a person can act on; with `server`, without the SDK's
    "Failed to connect to MCP server '<server>': " in front, since the caller names the server already."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return text.removeprefix(f"Failed to connect to MCP server '{server}': ") if server else text
