"""A stdio MCP server (2026-07-28) that runs a tool call as a task of the Tasks extension (`io.modelcontextprotocol/
tasks`): `python tests/fakes/task_extension_mcp_server.py STORE`.

Built on the `mcp` SDK's server extensions: `brew` answers a client that declared the extension on its request with a
task (`resultType: "task"`) that is `working` for `seconds`, then `completed` with its result inline in `tasks/get`;
a client that did not declare it gets the plain result, as the extension requires. `tasks/cancel` cancels a task.
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


def load() -> dict[str, Any]:
    return json.loads(STORE.read_text()) if STORE.exists() else {}


def save(tasks: dict[str, Any]) -> None:
    STORE.write_text(json.dumps(tasks))


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def detailed(task: dict[str, Any]) -> dict[str, Any]:
    status = task.get("status") or ("completed" if time.time() >= task["done_at"] else "working")
    state = {
        "taskId": task["id"],
        "status": status,
        "statusMessage": {"working": "Brewing", "completed": "Brewed", "cancelled": "Cancelled by the client"}[status],
        "createdAt": stamp(task["created_at"]),
        "lastUpdatedAt": stamp(time.time()),
        "ttlMs": 60_000,
        "pollIntervalMs": POLL_MS,
    }
    if status == "completed":
        state["result"] = {"content": [{"type": "text", "text": f"Brewed for {task['seconds']:g} s, as a task."}]}
    return state


class Tasks(Extension):
    identifier = EXTENSION_ID

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding(method="tasks/get", params_type=TaskParams, handler=self.get),
            MethodBinding(method="tasks/cancel", params_type=TaskParams, handler=self.cancel),
        ]

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
        save({**load(), task["id"]: task})
        return {"resultType": "task", **detailed(task)}


server = MCPServer("task-extension", extensions=[Tasks()], log_level="WARNING")


@server.tool()
def brew(seconds: float = 1) -> str:
    """Brew for `seconds` (a task, for a client that waits on tasks)."""
    time.sleep(seconds)
    return f"Brewed for {seconds:g} s, without a task."


if __name__ == "__main__":
    server.run("stdio")
