"""Long-running tool calls as tasks: the `tasks` utility of MCP 2025-11-25, and the Tasks extension of 2026-07-28
(`io.modelcontextprotocol/tasks`).

On 2025-11-25 a tool whose definition says `execution.taskSupport: "required"` cannot be called plainly: the call asks
for a task (`tools/call` with `task`), the server answers at once with it, the caller polls `tasks/get` at the
server's `pollInterval` until the task ends, then fetches its result with `tasks/result`. A task waiting on the user
(`input_required`) is asked for its result at once: the server sends its questions while that request is open.

On 2026-07-28 Switchboard declares the extension on every request, and the server decides: any `tools/call` may
answer with a task (`resultType: "task"`), which the caller polls with `tasks/get` at its `pollIntervalMs` until it
carries the result (or the error); what such a task asks as it runs (`inputRequests`) goes to the user like any
question of a call, and the answers back with `tasks/update`.

Either way a connection lost meanwhile is replaced and the task polled on the new one (the server keeps its tasks;
a server that lost them says so and the call fails), and a call that is given up (the run stopped, the call timed
out) sends `tasks/cancel`, so the server stops working for nobody.

mcp 2.x declares the 2025-11-25 types but sends none of these requests, and checks a `tools/call` answer against the
plain result, so that era's task creation and result go through the session's dispatcher as raw requests;
tests/contracts/test_sdk_seams.py fails if an upgrade moves it. The 2026-07-28 task answer is a result shape the
extension claims (mcp's ClientExtension), which the session hands back as is.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
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
    Request,
    RequestParams,
    Result,
    TextContent,
)
from pydantic import ConfigDict

logger = logging.getLogger(__name__)

TASKS_VERSION = "2025-11-25"
EXTENSION_ID = "io.modelcontextprotocol/tasks"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
# How long the server is asked to keep a task, in ms; a run never waits that long.
TASK_TTL_MS = 60 * 60 * 1000
# The server's poll interval, kept within these bounds (seconds).
POLL_MIN = 0.1
POLL_MAX = 10.0
# How long a call given up waits for the server to hear `tasks/cancel`.
CANCEL_TIMEOUT = 5.0
# New connections one task's polling may go on over.
RECONNECTS_MAX = 3

Progressed = Callable[[float, float | None, str | None], Awaitable[None]]


class CreatedTask(Result):
    """A 2026-07-28 `tools/call` answered with a task (`resultType: "task"`)."""

    model_config = ConfigDict(extra="allow")

    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    status_message: str | None = None
    poll_interval_ms: int | None = None


class DetailedTask(Result):
    """A 2026-07-28 task as `tasks/get` tells it: its status, and its result or error once it ended."""

    model_config = ConfigDict(extra="allow")

    task_id: str
    status: str
    status_message: str | None = None
    poll_interval_ms: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class UpdateTaskParams(RequestParams):
    task_id: str
    input_responses: dict[str, Any]


class UpdateTaskRequest(Request[UpdateTaskParams, Literal["tasks/update"]]):
    """The answers to what a 2026-07-28 task asks as it runs (`inputRequests`)."""

    method: Literal["tasks/update"] = "tasks/update"
    params: UpdateTaskParams


def task_required(tool: Any) -> bool:
    """Whether a tool may only be called as a task (2025-11-25)."""
    execution = getattr(tool, "execution", None)
    return getattr(execution, "task_support", None) == "required"


def tasks_offered(session: Any) -> bool:
    """Whether the server runs `tools/call` as 2025-11-25 tasks on this session."""
    if getattr(session, "protocol_version", None) != TASKS_VERSION:
        return False
    tasks = getattr(getattr(session, "server_capabilities", None), "tasks", None)
    requests = getattr(tasks, "requests", None)
    return getattr(getattr(requests, "tools", None), "call", None) is not None


class TaskWire:
    """How one protocol era polls a task, gets its result, and cancels it."""

    # Whether a task waiting on the user is asked for its result, the server's questions coming with it.
    questions_in_result = False

    def interval_ms(self, task: Any) -> int | None:
        raise NotImplementedError

    async def get(self, session: Any, task_id: str) -> Any:
        raise NotImplementedError

    async def result(self, session: Any, task: Any) -> CallToolResult:
        raise NotImplementedError

    async def cancel(self, session: Any, task_id: str) -> None:
        await session.send_request(CancelTaskRequest(params=CancelTaskRequestParams(task_id=task_id)), Result)


class CoreTasks(TaskWire):
    """2025-11-25: `tasks/get`, then `tasks/result` (which also carries the server's questions)."""

    questions_in_result = True

    def interval_ms(self, task: Any) -> int | None:
        return task.poll_interval

    async def get(self, session: Any, task_id: str) -> Any:
        return await session.send_request(GetTaskRequest(params=GetTaskRequestParams(task_id=task_id)), GetTaskResult)

    async def result(self, session: Any, task: Any) -> CallToolResult:
        raw = await session._dispatcher.send_raw_request("tasks/result", {"taskId": task.task_id}, {})
        return CallToolResult.model_validate(raw)

    async def cancel(self, session: Any, task_id: str) -> None:
        request = CancelTaskRequest(params=CancelTaskRequestParams(task_id=task_id))
        await session.send_request(request, CancelTaskResult)


class ExtensionTasks(TaskWire):
    """2026-07-28: `tasks/get` until the task carries its result or its error."""

    def interval_ms(self, task: Any) -> int | None:
        return task.poll_interval_ms

    async def get(self, session: Any, task_id: str) -> Any:
        return await session.send_request(GetTaskRequest(params=GetTaskRequestParams(task_id=task_id)), DetailedTask)

    async def result(self, session: Any, task: Any) -> CallToolResult:
        if task.status == "completed" and task.result is not None:
            return CallToolResult.model_validate(task.result)
        error = task.error or {}
        raise MCPError(code=int(error.get("code", -32603)), message=str(error.get("message") or "The task failed."))


async def task_call(session: Any, name: str, arguments: Any, **waiting: Any) -> CallToolResult:
    """Call a tool as a 2025-11-25 task and wait for its result."""
    params = {"name": name, "arguments": arguments or {}, "task": {"ttl": TASK_TTL_MS}}
    task = CreateTaskResult.model_validate(await session._dispatcher.send_raw_request("tools/call", params, {})).task
    return await task_await(session, name, task, CoreTasks(), **waiting)


async def task_await(
    session: Any,
    name: str,
    task: Any,
    wire: TaskWire,
    *,
    progressed: Progressed,
    reconnect: Callable[[], Awaitable[Any]] | None = None,
    started: Callable[[str], Awaitable[None]] | None = None,
    answer: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
) -> CallToolResult:
    """Wait for a task's result, polling it as often as the server asks; what a 2026-07-28 task asks as it runs
    goes to `answer` (its `inputRequests`, each key once), and the answers back with `tasks/update`.

    A connection lost while the task runs is not the task lost: `reconnect` gives a session of a new connection to
    the same server, and the task is polled there, by its id, up to RECONNECTS_MAX times.
    """
    task_id = task.task_id
    if started is not None:
        await started(task_id)
    polls = reconnects = 0
    answered: set[str] = set()

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
        while task.status not in TERMINAL:
            if task.status == "input_required":
                if wire.questions_in_result:
                    break
                # Asked again until the server has the answers (it takes them eventually): each key is answered once.
                asked = {key: request for key, request in _input_requests(task).items() if key not in answered}
                if asked and answer is None:
                    await _cancel(wire, session, task_id)
                    text = "The task asks for input as it runs, which nobody can answer here: it was cancelled."
                    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
                if asked:
                    responses = await answer(asked)
                    answered.update(asked)
                    update = UpdateTaskRequest(params=UpdateTaskParams(task_id=task_id, input_responses=responses))
                    await again(functools.partial(_send, update))
            await asyncio.sleep(_poll_seconds(wire.interval_ms(task)))
            task = await again(lambda current: wire.get(current, task_id))
            polls += 1
            await progressed(polls, None, _said(task))
        if task.status == "cancelled":
            reason = task.status_message or "no reason given"
            text = f"The server cancelled the task ({reason})."
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return await again(lambda current: wire.result(current, task))
    except asyncio.CancelledError:
        await _cancel(wire, session, task_id)
        raise


async def _send(request: Any, session: Any) -> Any:
    return await session.send_request(request, Result)


def _input_requests(task: Any) -> dict[str, Any]:
    requests = (task.model_extra or {}).get("inputRequests")
    return requests if isinstance(requests, dict) else {}


def _poll_seconds(interval_ms: int | None) -> float:
    return min(POLL_MAX, max(POLL_MIN, interval_ms / 1000 if interval_ms else 1.0))


def _lost(session: Any, exc: Exception) -> bool:
    """Whether a request failed because the connection went (a crashed server, a dropped socket)."""
    if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        return True
    return bool(getattr(getattr(session, "_dispatcher", None), "_closed", False))


def _said(task: Any) -> str:
    return f"Task {task.status}" + (f": {task.status_message}" if task.status_message else "")


async def _cancel(wire: TaskWire, session: Any, task_id: str) -> None:
    """Tell the server to stop a task nobody waits for (shielded: the caller may be being cancelled)."""
    try:
        await asyncio.wait_for(asyncio.shield(wire.cancel(session, task_id)), CANCEL_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the call ends anyway; the task runs out its ttl
        logger.info("Could not cancel MCP task %s: %s", task_id, exc)


async def _claimed_task(task: CreatedTask, context: ClaimContext) -> CallToolResult:
    """A task the session met on a call that did not expect one (the pool's calls do): waited for plainly."""

    async def quiet(progress: float, total: float | None, message: str | None) -> None:
        return None

    return await task_await(context.session, context.tool_name, task, ExtensionTasks(), progressed=quiet)


class TasksExtension(ClientExtension):
    """Switchboard's side of the 2026-07-28 Tasks extension: it declares it, and claims the task answer."""

    identifier = EXTENSION_ID

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=_claimed_task)]
