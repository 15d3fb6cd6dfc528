"""A stdio MCP server (2025-11-25) whose one tool runs as a task that outlives the process: `python
tests/fakes/task_mcp_server.py STORE`.

Raw JSON-RPC, following the `tasks` utility of 2025-11-25: `brew` may only be called as a task
(`execution.taskSupport: "required"`); `tools/call` with `task` answers at once with the task; `tasks/get` tells its
status, `working` until `seconds` have passed since it was created and `completed` after; `tasks/result` gives its
result; `tasks/cancel` cancels it. Tasks are kept in the STORE file, so a server started again (after a crash, or a
dropped connection) knows them: a client may go on polling a task it started on the process before.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

STORE = Path(sys.argv[1])
POLL_MS = 200
TOOL = {
    "name": "brew",
    "description": "Brew for `seconds`, as a task.",
    "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}},
    "execution": {"taskSupport": "required"},
}


def load() -> dict:
    return json.loads(STORE.read_text()) if STORE.exists() else {}


def save(tasks: dict) -> None:
    STORE.write_text(json.dumps(tasks))


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def state(task: dict) -> dict:
    status = task.get("status") or ("completed" if time.time() >= task["done_at"] else "working")
    return {
        "taskId": task["id"],
        "status": status,
        "statusMessage": {"working": "Brewing", "completed": "Brewed", "cancelled": "Cancelled by the client"}[status],
        "createdAt": stamp(task["created_at"]),
        "lastUpdatedAt": stamp(time.time()),
        "ttl": 60_000,
        "pollInterval": POLL_MS,
    }


def handle(method: str, params: dict) -> dict:
    tasks = load()
    if method == "initialize":
        return {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}, "tasks": {"cancel": {}, "requests": {"tools": {"call": {}}}}},
            "serverInfo": {"name": "tasks", "version": "0"},
        }
    if method == "tools/list":
        return {"tools": [TOOL]}
    if method == "tools/call":
        if "task" not in params:
            raise LookupError("brew may only be called as a task")
        now = time.time()
        seconds = float(params["arguments"]["seconds"])
        task = {"id": uuid.uuid4().hex, "created_at": now, "done_at": now + seconds, "pid": os.getpid()}
        tasks[task["id"]] = task
        save(tasks)
        return {"task": state(task)}
    task = tasks.get(params.get("taskId"))
    if task is None:
        raise LookupError("no such task")
    if method == "tasks/get":
        return state(task)
    if method == "tasks/cancel":
        task["status"] = "cancelled"
        save(tasks)
        return state(task)
    if method == "tasks/result":
        while state(task)["status"] == "working":
            time.sleep(POLL_MS / 1000)
        text = f"Brewed (started by process {task['pid']}, finished by process {os.getpid()})."
        related = {"io.modelcontextprotocol/related-task": {"taskId": task["id"]}}
        return {"content": [{"type": "text", "text": text}], "_meta": related}
    raise NotImplementedError(method)


for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("id") is None:
        continue  # notifications need no answer
    try:
        reply = {"result": handle(message["method"], message.get("params") or {})}
    except NotImplementedError:
        reply = {"error": {"code": -32601, "message": "Method not found"}}
    except LookupError as exc:
        reply = {"error": {"code": -32602, "message": str(exc)}}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], **reply}) + "\n")
    sys.stdout.flush()
