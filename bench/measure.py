"""In-process measurements: the Agents SDK floor, MCP calls, direct model calls, queries per turn.

Import this only once Django is set up (`bench.run` does that).
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from agents import Agent, RunConfig, Runner
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.db.backends.signals import connection_created
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from openai import AsyncOpenAI

from assistants.offline import OfflineModel
from bench.procs import PYTHON, ROOT
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from mcp_servers.services import mcp_server_connect

ADD = {"a": 1, "b": 2}

# --- the Agents SDK alone -------------------------------------------------------------------------------------------


async def sdk_turn(content: str) -> tuple[float, float]:
    """The same offline turn Switchboard runs, with nothing around it: (first delta, completed) in seconds."""
    started = time.perf_counter()
    agent = Agent(name="floor", instructions="Be brief.", model=OfflineModel())
    result = Runner.run_streamed(
        agent, input=[{"role": "user", "content": content}], run_config=RunConfig(tracing_disabled=True)
    )
    first = None
    async for event in result.stream_events():
        if first is None and event.type == "raw_response_event":
            if getattr(event.data, "type", "") == "response.output_text.delta":
                first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


# --- MCP ------------------------------------------------------------------------------------------------------------


def mcp_transport(kind: str, url: str) -> Any:
    """The raw mcp client transport for one kind (what an app without a pool would open)."""
    if kind == "stdio":
        params = StdioServerParameters(command=PYTHON, args=["-m", "mcp_servers.demo"], cwd=str(ROOT))
        return stdio_client(params)
    if kind == "streamable_http":
        return streamable_http_client(url)
    if kind == "websocket":
        from mcp_servers.websocket import websocket_client

        return websocket_client(url)
    raise ValueError(kind)


async def mcp_session_open(stack: AsyncExitStack, kind: str, url: str) -> ClientSession:
    streams = await stack.enter_async_context(mcp_transport(kind, url))
    session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
    await session.initialize()
    return session


async def timed(count: int, call: Callable[[], Awaitable[Any]], *, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def mcp_direct(kind: str, url: str, count: int) -> list[float]:
    """The floor: `ClientSession.call_tool` on a session that is already open."""
    async with AsyncExitStack() as stack:
        session = await mcp_session_open(stack, kind, url)

        async def call() -> None:
            result = await session.call_tool("add", ADD)
            assert not result.is_error, result

        return await timed(count, call)


async def mcp_pooled(server_id: int, count: int) -> list[float]:
    """What a run does: borrow the connection from the process pool, then call the tool through the SDK."""
    config = await MCPServer.objects.aget(pk=server_id)

    async def call() -> None:
        server = await mcp_server_connect(server=config, user_id=1, username="bench")
        result = await server.call_tool("add", ADD)
        assert not result.is_error, result

    try:
        return await timed(count, call)
    finally:
        await get_pool().close_all()


async def mcp_per_request(kind: str, url: str, count: int) -> list[float]:
    """What many agent apps do: a new server (stdio) or a new session (HTTP, WebSocket) for every call."""

    async def call() -> None:
        async with AsyncExitStack() as stack:
            session = await mcp_session_open(stack, kind, url)
            result = await session.call_tool("add", ADD)
            assert not result.is_error, result

    return await timed(count, call, warmup=1)


# --- the model, called directly -------------------------------------------------------------------------------------


async def model_direct(
    base_url: str, style: str, count: int, *, shared_client: bool
) -> tuple[list[float], list[float]]:
    """Stream one answer straight from the fake with the openai client: (first token, completed) samples."""
    shared = AsyncOpenAI(base_url=base_url, api_key="sk-bench-not-a-real-key", max_retries=0)
    firsts, totals = [], []

    async def once(client: AsyncOpenAI) -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        if style == "chat_completions":
            stream = await client.chat.completions.create(
                model="fake-model",
                messages=[{"role": "user", "content": "hello"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
        else:
            stream = await client.responses.create(model="fake-model", input="hello", stream=True)
            async for event in stream:
                if first is None and event.type == "response.output_text.delta":
                    first = time.perf_counter() - started
        return first or 0.0, time.perf_counter() - started

    try:
        for i in range(count + 3):
            if shared_client:
                first, total = await once(shared)
            else:
                client = AsyncOpenAI(base_url=base_url, api_key="sk-bench-not-a-real-key", max_retries=0)
                try:
                    first, total = await once(client)
                finally:
                    await client.close()
            if i >= 3:
                firsts.append(first)
                totals.append(total)
    finally:
        await shared.close()
    return firsts, totals


# --- queries per turn -----------------------------------------------------------------------------------------------

_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?([A-Za-z0-9_]+)"?', re.IGNORECASE)


def _statement(sql: str) -> str:
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


def _call_site() -> str:
    """The project's innermost three frames (file:line function) under this statement."""
    root = f"{ROOT}/"
    frames = [
        f"{frame.filename.removeprefix(root)}:{frame.lineno} {frame.name}"
        for frame in reversed(traceback.extract_stack())
        if frame.filename.startswith(root) and "/.venv/" not in frame.filename and "/bench/" not in frame.filename
    ]
    return "\n          ← " + "\n          ← ".join(frames[:3])


class QueryCounter:
    """Counts every query on every connection of this process, with the time spent in the database."""

    def __init__(self, *, where: bool = False) -> None:
        self.where = where  # key each statement by the project's frames that ran it, too
        self.statements: Counter[str] = Counter()
        self.seconds = 0.0
        self.connections_opened = 0
        connection_created.connect(self._created, weak=False)
        for connection in connections.all(initialized_only=True):
            self._install(connection)

    def _created(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        self.connections_opened += 1
        self._install(connection)

    def _install(self, connection: Any) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.statements[_statement(sql) + (_call_site() if self.where else "")] += 1

    def snapshot(self) -> tuple[Counter[str], float, int]:
        return Counter(self.statements), self.seconds, self.connections_opened

    def since(self, before: tuple[Counter[str], float, int]) -> tuple[Counter[str], float, int]:
        statements = Counter(self.statements)
        statements.subtract(before[0])
        return +statements, self.seconds - before[1], self.connections_opened - before[2]


async def _communicator(thread_id: str, cookie: str, session: str) -> WebsocketCommunicator:
    from config.asgi import application

    headers = [
        (b"origin", b"http://127.0.0.1"),
        (b"host", b"127.0.0.1"),
        (b"cookie", f"{cookie}={session}".encode()),
    ]
    communicator = WebsocketCommunicator(application, f"/ws/conversations/{thread_id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=30)
    assert connected
    return communicator


async def _communicator_turn(communicator: WebsocketCommunicator, content: str) -> None:
    await communicator.send_to(text_data=json.dumps({"type": "message.create", "content": content}))
    while True:
        frame = json.loads(await communicator.receive_from(timeout=60))
        if frame["event"] == "thread.run.completed":
            return
        if frame["event"] in ("thread.run.failed", "error", "thread.run.incomplete"):
            raise RuntimeError(f"turn failed: {frame}")


async def queries_per_turn(
    counter: QueryCounter, *, cookie: str, session: str, threads: list[str], content: str, turns: int
) -> dict[str, Any]:
    """Queries of one WebSocket connect and of one turn, through the real ASGI app in this process."""
    # One warm-up turn, not counted: the first run imports and connects.
    warm = await _communicator(threads[0], cookie, session)
    await _communicator_turn(warm, content)
    await warm.disconnect()
    per_thread = max(1, turns // max(1, len(threads) - 1))
    statements: Counter[str] = Counter()
    seconds, opened, done = 0.0, 0, 0
    elapsed: list[float] = []
    connect: Counter[str] = Counter()
    for thread_id in threads[1:]:
        before = counter.snapshot()
        communicator = await _communicator(thread_id, cookie, session)
        connect = counter.since(before)[0]
        for _ in range(per_thread):
            before = counter.snapshot()
            started = time.perf_counter()
            await _communicator_turn(communicator, content)
            elapsed.append(time.perf_counter() - started)
            turn_statements, turn_seconds, turn_opened = counter.since(before)
            statements.update(turn_statements)
            seconds += turn_seconds
            opened += turn_opened
            done += 1
        await communicator.disconnect()
    return {
        "connect": sum(connect.values()),
        "connect_statements": dict(connect.most_common()),
        "turns": done,
        "elapsed": elapsed,
        "per_turn": sum(statements.values()) / done,
        "db_ms_per_turn": seconds * 1000 / done,
        "connections_per_turn": opened / done,
        "statements": {name: count / done for name, count in statements.most_common()},
    }
