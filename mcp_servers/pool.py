"""The per-process MCP connection pool.

Each live connection is owned by one long-lived task that opens the transport, waits, and closes
it again in the same task (anyio cancel scopes demand it). Runs borrow the connected server
concurrently from any task.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.client._input_required import run_input_required_driver
from mcp.client.session import ClientRequestContext
from mcp.client.subscriptions import listen
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, CallToolResult, ElicitRequest, ErrorData, InputRequiredResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from core.metrics import mcp_connection_close_record, mcp_connection_open_record, mcp_reconnect_record
from mcp_servers.elicitation import CallInFlight, CallsInFlight
from mcp_servers.errors import MCPCallTimeout, MCPConnectError, MCPConnectionLost
from mcp_servers.results import result_parts_apply
from mcp_servers.tasks import CreatedTask, ExtensionTasks, task_await, task_call, task_required, tasks_offered
from mcp_servers.transports import ClientHooks, Transport
from mcp_servers.ui import app_only, app_uri_of

__all__ = ["MCPConnectError", "Pool", "get_pool"]

logger = logging.getLogger(__name__)


BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# How long a close may take before its owner task is cancelled.
CLOSE_TIMEOUT = 10.0


def session_closed(session: Any) -> bool:
    """Whether the session's transport has gone (a crashed process, a dropped socket)."""
    # mcp 2.x exposes no public flag (only a failing request tells), so this reads the dispatcher's `_closed`, set
    # when the read side ends; tests/contracts/test_sdk_seams.py fails if an upgrade moves it.
    return bool(getattr(getattr(session, "_dispatcher", None), "_closed", False))


# Who hears of a tool call's progress, in the task that makes the call: (tool name, progress, total, message).
# The run executor sets it for its run; the pool knows nothing of runs.
tool_progress: contextvars.ContextVar[Callable[[str, float, float | None, str | None], None] | None] = (
    contextvars.ContextVar("tool_progress", default=None)
)

# Who hears that a tool call became a task on its server, in the task that makes the call: (tool name, task id).
tool_task: contextvars.ContextVar[Callable[[str, str], Awaitable[None]] | None] = contextvars.ContextVar(
    "tool_task", default=None
)


class TimedSession:
    """A ClientSession whose tool calls time out, unless the tool keeps reporting progress or waits on the user.

    The Agents SDK has no hook for a per-call deadline that progress extends (its read timeout cannot be
    extended, its tool timeout does not hear progress), but it reads `server.session` on every call, so the
    pool puts this proxy there; tests/contracts/test_sdk_seams.py fails if an upgrade stops reading it. A call
    the server asks the user about (elicitation, either era) waits for the answer without a deadline.
    """

    def __init__(
        self,
        session: Any,
        *,
        server_name: str,
        call_timeout: float,
        calls: CallsInFlight | None = None,
        reconnect: Callable[[], Awaitable[AgentsMCPServer]] | None = None,
    ) -> None:
        self._session = session
        # A new connection to the same server, from the pool: a task's polling goes on over it (mcp_servers/tasks.py).
        self._reconnect = reconnect
        self._server_name = server_name
        self._call_timeout = call_timeout
        self._calls = calls if calls is not None else CallsInFlight(server_name)
        # The `ui://` view of each tool that has one (MCP Apps), as its definition says.
        self._apps: dict[str, str] = {}
        # Tools that may only be called as tasks (mcp_servers/tasks.py).
        self._task_tools: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def list_tools(self, *args: Any, **kwargs: Any) -> Any:
        """The server's tools less those meant for a view alone (MCP Apps), noting which tools have a view and
        which may only be called as tasks."""
        result = await self._session.list_tools(*args, **kwargs)
        for tool in result.tools:
            if uri := app_uri_of(tool.meta):
                self._apps[tool.name] = uri
            if task_required(tool):
                self._task_tools.add(tool.name)
        offered = [tool for tool in result.tools if not app_only(tool.meta)]
        return result if len(offered) == len(result.tools) else result.model_copy(update={"tools": offered})

    async def call_tool(self, name: str, arguments: Any = None, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        timeout = self._call_timeout

        listener = tool_progress.get()

        async def progressed(progress: float, total: float | None, message: str | None) -> None:
            if not call.waiting:  # while the user answers, the call has no deadline to extend
                deadline.reschedule(loop.time() + timeout)
            if listener is not None:
                listener(name, progress, total, message)

        async def send(responses: Any = None, state: str | None = None) -> Any:
            return await self._session.call_tool(
                name, arguments, progress_callback=progressed, input_responses=responses, request_state=state,
                allow_input_required=True, allow_claimed=True, **options,
            )  # fmt: skip

        async def answer(requests: dict[str, Any]) -> dict[str, Any]:
            asked = InputRequiredResult.model_validate({"resultType": "input_required", "inputRequests": requests})
            responses = {}
            for key, request in (asked.input_requests or {}).items():
                response = await self._dispatched(call, key, request)
                if isinstance(response, ErrorData):
                    raise MCPError(code=response.code, message=response.message)
                responses[key] = response.model_dump(by_alias=True, mode="json", exclude_none=True)
            return responses

        waiting = {
            "progressed": progressed,
            "reconnect": self._reconnected,
            "started": functools.partial(tasked, name) if (tasked := tool_task.get()) else None,
            "answer": answer,
        }

        with self._calls.track(name, timeout=timeout) as call:
            try:
                async with asyncio.timeout(timeout) as deadline:
                    call.deadline = deadline
                    if name in self._task_tools and tasks_offered(self._session):
                        result = await task_call(self._session, name, arguments, **waiting)
                    else:
                        result = await send()
                    if isinstance(result, InputRequiredResult):
                        result = await self._input_rounds(result, call, send)
                    if isinstance(result, CreatedTask):  # the server made the call a task (2026-07-28)
                        result = await task_await(self._session, name, result, ExtensionTasks(), **waiting)
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED or session_closed(self._session):
                    raise MCPConnectionLost(
                        f"MCP server '{self._server_name}' went away during a call to '{name}'"
                    ) from exc
                raise
            except TimeoutError:
                raise MCPCallTimeout(
                    f"Tool '{name}' on MCP server '{self._server_name}' did not answer within {timeout:g} s"
                ) from None
        if isinstance(result, CallToolResult):
            result_parts_apply(result, app=self._apps.get(name) or app_uri_of(result.meta))
        return result

    async def _reconnected(self) -> Any:
        """The client session of a new connection to this server, replacing this one's, which was lost."""
        if self._reconnect is None:
            raise MCPConnectionLost(f"MCP server '{self._server_name}' went away")
        server = await self._reconnect()
        return getattr(server.session, "_session", server.session)

    async def _input_rounds(self, first: InputRequiredResult, call: CallInFlight, send: Any) -> Any:
        """Answer a 2026-07-28 `input_required` result and call again, until the tool answers: its questions go
        to the caller; anything else it asks for (sampling, roots) is a capability Switchboard does not offer."""

        return await run_input_required_driver(first, dispatch=functools.partial(self._dispatched, call), retry=send)

    async def _dispatched(self, call: CallInFlight, key: str, request: Any) -> Any:
        """A server's question during a call goes to the caller; anything else it asks for (sampling, roots) is
        answered by the session, which says it is a capability Switchboard does not offer."""
        if isinstance(request, ElicitRequest):
            return await self._calls.ask(call, request.params)
        context = ClientRequestContext(session=self._session, request_id=key)
        return await self._session.dispatch_input_request(context, request)


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


def error_text(exc: BaseException, *, server: str = "") -> str:
    """The innermost reason of a failure, as one line a person can act on; with `server`, without the SDK's
    "Failed to connect to MCP server '<server>': " in front, since the caller names the server already."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return text.removeprefix(f"Failed to connect to MCP server '{server}': ") if server else text


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def get_pool() -> Pool:
    """Return this process's pool for the running event loop."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = Pool()
    return pool
