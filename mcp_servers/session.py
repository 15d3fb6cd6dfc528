"""The client session a pooled connection lends: tool calls with a deadline that progress extends, questions the
server asks during a call routed to the caller, and MCP Apps views and task-only tools noted from the tool list."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from agents.mcp import MCPServer as AgentsMCPServer
from mcp.client._input_required import run_input_required_driver
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, CallToolResult, ElicitRequest, ErrorData, InputRequiredResult

from mcp_servers.elicitation import CallInFlight, CallsInFlight
from mcp_servers.errors import MCPCallTimeout, MCPConnectionLost
from mcp_servers.results import result_parts_apply
from mcp_servers.tasks import CreatedTask, ExtensionTasks, task_await, task_call, task_required, tasks_offered
from mcp_servers.ui import app_only, app_uri_of


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
