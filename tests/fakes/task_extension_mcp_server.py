"""A stdio MCP server (2026-07-28) that runs a tool call as a task of the Tasks extension (`io.modelcontextprotocol/
tasks`): `python tests/fakes/task_extension_mcp_server.py STORE`.

Built on the `mcp` SDK's server extensions: `brew` answers a client that declared the extension on its request with a
task (`resultType: "task"`) that is `working` for `seconds`, then `completed` with its result inline in `tasks/get`;
a client that did not declare it gets the plain result, as the extension requires. With `ask`, the task first asks
how strong (an elicitation in `inputRequests`), answered with `tasks/update`. `tasks/cancel` cancels a task.
Tasks are kept in the STORE file, so a test can read what the server was asked.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.extension import Extension, MethodBinding
from mcp_types import RequestParams

EXTENSION_ID = "io.modelcontextprotocol/tasks"
STORE = Path(sys.argv[1])
POLL_MS = 200


class TaskParams(RequestParams):
    task_id: str


class UpdateParams(TaskParams):
    input_responses: dict[str, Any]


def load() -> dict[str, Any]:
    return json.loads(STORE.read_text()) if STORE.exists() else {}


def save(tasks: dict[str, Any]) -> None:
    STORE.write_text(json.dumps(tasks))


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


QUESTION = {
    "method": "elicitation/create",
    "params": {
        "mode": "form",
        "message": "How strong?",
        "requestedSchema": {"type": "object", "properties": {"strength": {"type": "string"}}, "required": ["strength"]},
    },
}
SAID = {"working": "Brewing", "completed": "Brewed", "cancelled": "Cancelled by the client", "input_required": "Asking"}


def detailed(task: dict[str, Any]) -> dict[str, Any]:
    status = task.get("status") or ("completed" if time.time() >= task["done_at"] else "working")
    state = {
        "taskId": task["id"],
        "status": status,
        "statusMessage": SAID[status],
        "createdAt": stamp(task["created_at"]),
        "lastUpdatedAt": stamp(time.time()),
        "ttlMs": 60_000,
        "pollIntervalMs": POLL_MS,
    }
    if status == "completed":
        strength = f", {task['strength']}" if task.get("strength") else ""
        text = f"Brewed for {task['seconds']:g} s{strength}, as a task."
        state["result"] = {"content": [{"type": "text", "text": text}]}
    if status == "input_required":
        state["inputRequests"] = {"strength": QUESTION}
    return state


class Tasks(Extension):
    identifier = EXTENSION_ID

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding(method="tasks/get", params_type=TaskParams, handler=self.get),
            MethodBinding(method="tasks/cancel", params_type=TaskParams, handler=self.cancel),
            MethodBinding(method="tasks/update", params_type=UpdateParams, handler=self.update),
        ]

    async def update(self, ctx: Any, params: UpdateParams) -> dict[str, Any]:
        tasks = load()
        task = tasks[params.task_id]
        answer = params.input_responses.get("strength") or {}
        if task.get("status") == "input_required" and answer.get("action") == "accept":
            task.update(status=None, strength=answer["content"]["strength"], done_at=time.time() + task["seconds"])
            save(tasks)
        return {}

    async def get(self, ctx: Any, params: TaskParams) -> dict[str, Any]:
        return detailed(load()[params.task_id])

    async def cancel(self, ctx: Any, params: TaskParams) -> dict[str, Any]:
        tasks = load()
        tasks[params.task_id]["status"] = "cancelled"
        save(tasks)
        return {}

    async def intercept_tool_call(self, params: Any, ctx: Any, call_next: Any) -> Any:
        declared = (ctx.session.client_capabilities.extensions or {}) if ctx.session.client_capabilities else {}
        if params.name != "brew" or EXTENSION_ID not in declared:
            return await call_next(ctx)
        now, seconds = time.time(), float((params.arguments or {}).get("seconds", 1))
        task = {"id": uuid.uuid4().hex, "created_at": now, "done_at": now + seconds, "seconds": seconds}
        if (params.arguments or {}).get("ask"):
            task["status"] = "input_required"  # it asks how strong before it brews
        save({**load(), task["id"]: task})
        return {"resultType": "task", **detailed(task)}


server = MCPServer("task-extension", extensions=[Tasks()], log_level="WARNING")


@server.tool()
def brew(seconds: float = 1, ask: bool = False) -> str:
    """Brew for `seconds` (a task, for a client that waits on tasks)."""
    time.sleep(seconds)
    return f"Brewed for {seconds:g} s, without a task."


if __name__ == "__main__":
    server.run("stdio")
