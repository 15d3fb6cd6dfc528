"""Stdio MCP servers run sandboxed: they cannot read the project, reach the network or fork without end."""

from __future__ import annotations

import socket
import sys
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from mcp_servers.models import MCPServer
from mcp_servers.pool import MCPConnectError, get_pool
from mcp_servers.sandbox import sandbox_workdir
from mcp_servers.services import mcp_server_check, mcp_server_connect

pytestmark = pytest.mark.django_db(transaction=True)

ESCAPE = str(settings.BASE_DIR / "tests" / "fakes" / "escape_mcp_server.py")
SETTINGS_FILE = str(settings.BASE_DIR / "config" / "settings.py")


@pytest.fixture
def escape(db) -> MCPServer:
    return MCPServer.objects.create(name="escape", command=sys.executable, args=[ESCAPE], call_timeout=20)


@pytest.fixture
def listener():
    """A TCP port on loopback that takes connections, for a server to try."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def _call(server: MCPServer, user, tool: str, arguments: dict):
    connection = await mcp_server_connect(server=server, user_id=user.pk, username=user.username)
    return await connection.call_tool(tool, arguments)


def _text(result) -> str:
    return result.content[0].text


async def test_it_hides_the_projects_files_from_a_server(alice, escape):
    result = await _call(escape, alice, "read_file", {"path": SETTINGS_FILE})
    assert result.is_error and "No such file or directory" in _text(result)
    database = str(settings.DATABASES["default"]["NAME"])
    result = await _call(escape, alice, "read_file", {"path": database})
    assert result.is_error


async def test_it_keeps_a_server_off_the_network(alice, escape, listener):
    result = await _call(escape, alice, "connect", {"host": "127.0.0.1", "port": listener})
    assert result.is_error and ("Network is unreachable" in _text(result) or "refused" in _text(result))


async def test_it_lets_a_server_allowed_the_network_connect(alice, escape, listener):
    escape.network = True
    await sync_to_async(escape.save)()
    result = await _call(escape, alice, "connect", {"host": "127.0.0.1", "port": listener})
    assert not result.is_error, _text(result)


async def test_it_stops_a_fork_bomb_at_the_process_limit(alice, escape, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX_PROCESSES": 16}
    result = await _call(escape, alice, "fork_bomb", {"count": 200})
    assert result.is_error and "could not start process" in _text(result)
    assert "Resource temporarily unavailable" in _text(result)
    # The server itself survives its own failed attempt.
    assert not (await _call(escape, alice, "where", {})).is_error


async def test_it_gives_each_server_and_user_a_working_directory_of_its_own(alice, bob, escape):
    escape.scope = MCPServer.Scope.PER_USER
    await sync_to_async(escape.save)()
    alices = _text(await _call(escape, alice, "where", {}))
    bobs = _text(await _call(escape, bob, "where", {}))
    own = sandbox_workdir(name="escape", user_id=alice.pk)
    assert alices == f"{own} {own}"  # its working directory, and its HOME
    assert alices != bobs


async def test_it_runs_the_bundled_demo_server_inside_the_sandbox(alice, demo_server):
    result = await _call(demo_server, alice, "add", {"a": 2, "b": 3})
    assert not result.is_error and _text(result) == "5"


async def test_it_says_clearly_when_bubblewrap_is_missing(alice, escape, monkeypatch):
    # PATH without bwrap: what a machine without bubblewrap installed looks like to Switchboard.
    monkeypatch.setenv("PATH", "/nonexistent")
    result = await mcp_server_check(server=escape)
    assert not result.ok and "bwrap" in result.error and "MCP_SANDBOX=0" in result.error
    with pytest.raises(MCPConnectError, match="bubblewrap"):
        await mcp_server_connect(server=escape, user_id=alice.pk, username="alice")


def test_it_fails_the_system_check_when_bubblewrap_is_missing(monkeypatch):
    from mcp_servers.sandbox import sandbox_check

    assert sandbox_check() == []
    monkeypatch.setenv("PATH", "/nonexistent")
    (error,) = sandbox_check()
    assert error.id == "mcp_servers.E001"


async def test_it_runs_servers_bare_with_the_sandbox_off(alice, escape, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    result = await _call(escape, alice, "read_file", {"path": SETTINGS_FILE})
    assert not result.is_error and "Switchboard settings" in _text(result)


async def _latency(server: MCPServer, user, *, calls: int) -> tuple[float, float]:
    """(connect and list tools, median call) in milliseconds, on a fresh connection."""
    await get_pool().close_all()
    started = time.perf_counter()
    connection = await mcp_server_connect(server=server, user_id=user.pk, username=user.username)
    await connection.list_tools()
    connect_ms = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        await connection.call_tool("add", {"a": 1, "b": 2})
        timings.append((time.perf_counter() - started) * 1000)
    return connect_ms, sorted(timings)[len(timings) // 2]


async def test_it_measures_the_sandboxs_cost_on_a_tool_call(alice, demo_server, settings, record_property):
    sandboxed = await _latency(demo_server, alice, calls=50)
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    bare = await _latency(demo_server, alice, calls=50)
    report = (
        f"connect+list: sandboxed {sandboxed[0]:.1f} ms, bare {bare[0]:.1f} ms; "
        f"median call: sandboxed {sandboxed[1]:.2f} ms, bare {bare[1]:.2f} ms"
    )
    record_property("sandbox_cost", report)
    print(report)
    # A pooled call goes over the same pipe either way: the sandbox costs at start, not per call.
    assert sandboxed[1] < bare[1] + 5


async def test_a_run_whose_tool_reaches_for_the_settings_shows_the_clear_error(alice, escape, offline_provider):
    from assistants.models import Assistant
    from chat.models import Conversation, RunStep
    from tests.ws import collect_until, ws_connect

    assistant = await Assistant.objects.acreate(name="Escaper", owner=alice, provider=offline_provider)
    await sync_to_async(assistant.mcp_servers.add)(escape)
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": f'/read_file {{"path": "{SETTINGS_FILE}"}}'})
    await collect_until(ws, "thread.run.completed", "thread.run.failed")
    await ws.disconnect()
    step = await RunStep.objects.filter(run__conversation=conversation, tool_name="read_file").aget()
    assert "No such file or directory" in f"{step.error} {step.output}"
    assert "Switchboard settings" not in f"{step.error} {step.output}"
