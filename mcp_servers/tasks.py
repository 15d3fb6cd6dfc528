"""Long-running tool calls as tasks (the `tasks` utility of MCP 2025-11-25).

A tool whose definition says `execution.taskSupport: "required"` cannot be called plainly: the call asks for a task
(`tools/call` with `task`), the server answers at once with the task's id, and the caller polls `tasks/get` at the
server's `pollInterval` until the task ends, then fetches its result with `tasks/result`. A task waiting on the user
(`input_required`) is asked for its result at once: the server sends its questions while that request is open, and
they reach the user like any other elicitation. A connection lost meanwhile is replaced and the task polled on the
new one (the server keeps its tasks; a server that lost them says so and the call fails). A call that is given up
(the run stopped, the call timed out) sends `tasks/cancel`, so the server stops working for nobody.

mcp 2.x declares these types but sends none of these requests, and it checks a `tools/call` answer against the
plain result, so the task's creation and result go through the session's dispatcher as raw requests;
tests/contracts/test_sdk_seams.py fails if an upgrade moves it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    CallToolResult,
    CancelTaskRequest,
    CancelTaskRequestParams,
    CancelTaskResult,
    CreateTaskResult,
    GetTaskRequest,
    GetTaskRequestParams,
    GetTaskResult,
    TextContent,
)

logger = logging.getLogger(__name__)

TASKS_VERSION = "2025-11-25"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
# How long the server is asked to keep a task, in ms; a run never waits that long.
TASK_TTL_MS = 60 * 60 * 1000
# The server's pollInterval, kept within these bounds (seconds).
POLL_MIN = 0.1
POLL_MAX = 10.0
# How long a call given up waits for the server to hear `tasks/cancel`.
CANCEL_TIMEOUT = 5.0
# New connections one task's polling may go on over.
RECONNECTS_MAX = 3


def task_required(tool: Any) -> bool:
    """Whether a tool may only be called as a task."""
    execution = getattr(tool, "execution", None)
    return getattr(execution, "task_support", None) == "required"


def tasks_offered(session: Any) -> bool:
    """Whether the server runs `tools/call` as tasks on this session's protocol version."""
    if getattr(session, "protocol_version", None) != TASKS_VERSION:
        return False
    tasks = getattr(getattr(session, "server_capabilities", None), "tasks", None)
    requests = getattr(tasks, "requests", None)
    return getattr(getattr(requests, "tools", None), "call", None) is not None


def _poll_seconds(task: Any) -> float:
    interval = task.poll_interval / 1000 if task.poll_interval else 1.0
    return min(POLL_MAX, max(POLL_MIN, interval))


async def task_call(
    session: Any,
    name: str,
    arguments: Any,
    *,
    progressed: Callable[[float, float | None, str | None], Awaitable[None]],
    reconnect: Callable[[], Awaitable[Any]] | None = None,
    started: Callable[[str], Awaitable[None]] | None = None,
) -> CallToolResult:
    """Call a tool as a task and wait for its result, polling the task as often as the server asks.

    A connection lost while the task runs is not the task lost: `reconnect` gives a session of a new connection to
    the same server, and the task is polled there, by its id, up to RECONNECTS_MAX times.
    """
    params = {"name": name, "arguments": arguments or {}, "task": {"ttl": TASK_TTL_MS}}
    task = CreateTaskResult.model_validate(await session._dispatcher.send_raw_request("tools/call", params, {})).task
    task_id = task.task_id
    if started is not None:
        await started(task_id)
    polls = reconnects = 0

    async def again(send: Callable[[Any], Awaitable[Any]]) -> Any:
        nonlocal session, reconnects
        while True:
            try:
                return await send(session)
            except Exception as exc:
                if reconnect is None or reconnects >= RECONNECTS_MAX or not _lost(session, exc):
                    raise
            reconnects += 1
            logger.info("MCP connection lost while task %s of %s runs; polling it on a new one", task_id, name)
            session = await reconnect()

    try:
        await progressed(polls, None, _said(task))
        asked = GetTaskRequest(params=GetTaskRequestParams(task_id=task_id))
        while task.status not in TERMINAL and task.status != "input_required":
            await asyncio.sleep(_poll_seconds(task))
            task = await again(lambda current: current.send_request(asked, GetTaskResult))
            polls += 1
            await progressed(polls, None, _said(task))
        if task.status == "cancelled":
            reason = task.status_message or "no reason given"
            text = f"The server cancelled the task ({reason})."
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        # Completed or failed: its result, or its error raised. Waiting on the user: this request carries the
        # server's questions and ends with the result.
        raw = await again(lambda current: current._dispatcher.send_raw_request("tasks/result", {"taskId": task_id}, {}))
    except asyncio.CancelledError:
        await _cancel(session, task_id)
        raise
    return CallToolResult.model_validate(raw)


def _lost(session: Any, exc: Exception) -> bool:
    """Whether a request failed because the connection went (a crashed server, a dropped socket)."""
    if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        return True
    return bool(getattr(getattr(session, "_dispatcher", None), "_closed", False))


def _said(task: Any) -> str:
    return f"Task {task.status}" + (f": {task.status_message}" if task.status_message else "")


async def _cancel(session: Any, task_id: str) -> None:
    """Tell the server to stop a task nobody waits for (shielded: the caller is being cancelled)."""
    request = CancelTaskRequest(params=CancelTaskRequestParams(task_id=task_id))
    try:
        await asyncio.wait_for(asyncio.shield(session.send_request(request, CancelTaskResult)), CANCEL_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the call ends anyway; the task runs out its ttl
        logger.info("Could not cancel MCP task %s: %s", task_id, exc)
