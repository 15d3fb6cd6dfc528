"""A WebSocket client for Switchboard's chat protocol, timing each turn."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

FAILED = {"thread.run.failed", "thread.run.cancelled", "thread.run.incomplete", "thread.run.expired", "error"}
TURN_TIMEOUT = 300.0


@dataclass
class Turn:
    first_delta: float | None = None  # seconds from send to the first thread.message.delta
    completed: float | None = None  # seconds from send to thread.run.completed
    tool_step: float | None = None  # seconds from the tool step's creation to its completion
    error: str = ""


@dataclass
class Stats:
    turns: list[Turn] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _event(text: str) -> str:
    # Frames are json.dumps({"event": ..., "data": ...}): read the name without parsing the whole frame.
    if text.startswith('{"event": "'):
        return text[11 : text.index('"', 11)]
    return json.loads(text).get("event", "")


async def ws_open(url: str, *, cookie: str, session: str) -> ClientConnection:
    # A browser's Origin: the page's own scheme, host and port, which the chat socket insists on.
    origin = "http://" + url.split("://", 1)[1].split("/", 1)[0]
    return await connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{cookie}={session}"},
        compression=None,
        ping_interval=None,
        open_timeout=120,
        max_size=2**22,
    )


async def turn(ws: ClientConnection, content: str, *, limit: float = TURN_TIMEOUT) -> Turn:
    result = Turn()
    tool_started = 0.0
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message.create", "content": content}))
    async with asyncio.timeout(limit):
        while True:
            text = await ws.recv()
            now = time.perf_counter()
            event = _event(text)
            if event == "thread.message.delta":
                if result.first_delta is None:
                    result.first_delta = now - started
            elif event == "thread.run.completed":
                result.completed = now - started
                return result
            elif event == "thread.run.step.created" and '"tool_calls"' in text:
                tool_started = now
            elif event == "thread.run.step.completed" and tool_started:
                result.tool_step, tool_started = now - tool_started, 0.0
            elif event in FAILED:
                data = json.loads(text).get("data") or {}
                last = data.get("last_error") or {}
                code = data.get("code") or last.get("code") or data.get("last_error_code")
                message = (data.get("message") or last.get("message") or "")[:120]
                result.error = f"{event}:{code or ''}" + (f" ({message})" if message and event != "error" else "")
                return result


async def within(coroutines: list[Coroutine[Any, Any, None]], seconds: float) -> tuple[int, float]:
    """Run the coroutines together, cancelling those still running after `seconds`: (how many were, seconds taken)."""
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    late: set[asyncio.Future[None]] = set()
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=seconds)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return len(late), time.perf_counter() - started


def turns_done(turns: list[Turn], errors: Counter[str]) -> list[Turn]:
    """The turns that completed without error; the others' errors are counted into `errors`."""
    errors.update(t.error for t in turns if t.error)
    return [t for t in turns if t.completed is not None and not t.error]
