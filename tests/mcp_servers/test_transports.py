"""The same agent turn over every transport, against the bundled demo server and third-party servers."""

from __future__ import annotations

import sys
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from assistants.models import Assistant
from chat.models import Conversation
from mcp_servers.models import MCPServer
from mcp_servers.services import mcp_server_connect
from tests.mcp_servers.conftest import everything_command
from tests.mcp_servers.helpers import answer, tool_output, turn

pytestmark = pytest.mark.django_db(transaction=True)

T = MCPServer.Transport


def server_spec(request, kind: str) -> dict:
    """The MCPServer fields for one real server reached over one transport."""
    if kind == "demo-stdio":
        return {"transport": T.STDIO, "command": sys.executable, "args": ["-m", "mcp_servers.demo"]}
    if kind == "demo-http":
        return {"transport": T.STREAMABLE_HTTP, "url": request.getfixturevalue("demo_http_url")}
    if kind == "demo-websocket":
        return {"transport": T.WEBSOCKET, "url": request.getfixturevalue("demo_ws_url")}
    if kind == "everything-stdio":
        command, *args = everything_command()
        return {"transport": T.STDIO, "command": command, "args": args}
    if kind == "everything-sse":
        return {"transport": T.SSE, "url": request.getfixturevalue("everything_sse_url")}
    if kind == "everything-http":
        return {"transport": T.STREAMABLE_HTTP, "url": request.getfixturevalue("everything_http_url")}
    if kind == "time-stdio":
        return {"transport": T.STDIO, "command": sys.executable, "args": ["-m", "mcp_server_time"]}
    raise AssertionError(kind)


def conversation_with(user, provider, **server_fields) -> Conversation:
    server = MCPServer.objects.create(name="tools", cwd=str(settings.BASE_DIR), call_timeout=20, **server_fields)
    assistant = Assistant.objects.create(name="Tester", provider=provider)
    assistant.mcp_servers.add(server)
    return Conversation.objects.create(owner=user, assistant=assistant)


ECHO_KINDS = ["demo-stdio", "demo-http", "demo-websocket", "everything-stdio", "everything-sse", "everything-http"]


async def connect_timed(kind: str, server: MCPServer, user, tool: str, arguments: dict) -> None:
    """Connect through the pool and call a tool a few times, printing the timings (`pytest -s` shows them).

    The turn that follows borrows this same pooled connection.
    """
    started = time.perf_counter()
    connected = await mcp_server_connect(server=server, user_id=user.pk, username=user.get_username())
    connect_ms = (time.perf_counter() - started) * 1000
    calls = []
    for _ in range(5):
        started = time.perf_counter()
        result = await connected.call_tool(tool, arguments)
        calls.append((time.perf_counter() - started) * 1000)
        assert not result.is_error
    calls.sort()
    print(f"\n{kind}: connect {connect_ms:.0f} ms, call median {calls[2]:.1f} ms, max {calls[-1]:.1f} ms")


@pytest.mark.parametrize("kind", ECHO_KINDS)
async def test_it_runs_an_echo_turn_over_each_transport(request, kind, alice, offline_provider, pool):
    conversation = await sync_to_async(conversation_with)(alice, offline_provider, **server_spec(request, kind))
    server = await MCPServer.objects.aget(name="tools")
    await connect_timed(kind, server, alice, "echo", {"message": "x"})
    frames = await turn(alice, conversation, '/echo {"message": "hi"}')
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert tool_output(frames) == "Echo: hi"
    assert "Echo: hi" in answer(frames)
    assert pool.stats()["connections"] == 1


@pytest.mark.parametrize("kind", ["everything-stdio", "everything-sse", "everything-http"])
async def test_it_sums_with_the_everything_server(request, kind, alice, offline_provider, pool):
    conversation = await sync_to_async(conversation_with)(alice, offline_provider, **server_spec(request, kind))
    frames = await turn(alice, conversation, '/get-sum {"a": 2, "b": 3}')
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert tool_output(frames) == "The sum of 2 and 3 is 5."


async def test_it_asks_the_time_server_for_the_time(request, alice, offline_provider, pool):
    conversation = await sync_to_async(conversation_with)(alice, offline_provider, **server_spec(request, "time-stdio"))
    server = await MCPServer.objects.aget(name="tools")
    await connect_timed("time-stdio", server, alice, "get_current_time", {"timezone": "UTC"})
    frames = await turn(alice, conversation, '/get_current_time {"timezone": "Europe/Paris"}')
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert '"timezone": "Europe/Paris"' in tool_output(frames)
