from __future__ import annotations

import asyncio
import sys
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from mcp_servers.connection import Connection
from mcp_servers.models import MCPServer
from mcp_servers.pool import MCPConnectError, Pool, get_pool
from mcp_servers.services import mcp_server_connect
from tests.mcp_servers.conftest import children

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_reuses_one_live_connection_across_runs(alice, demo_server):
    first = await mcp_server_connect(server=demo_server, user_id=alice.pk, username="alice")
    second = await mcp_server_connect(server=demo_server, user_id=alice.pk, username="alice")
    assert first is second
    results = await asyncio.gather(*(first.call_tool("add", {"a": i, "b": 1}) for i in range(10)))
    assert [r.content[0].text for r in results] == [str(i + 1) for i in range(10)]
    await get_pool().close_all()


async def test_it_replaces_a_connection_when_its_configuration_changes(alice, demo_server):
    first = await mcp_server_connect(server=demo_server, user_id=alice.pk, username="alice")
    demo_server.denied_tools = ["wait"]
    await sync_to_async(demo_server.save)()
    second = await mcp_server_connect(server=demo_server, user_id=alice.pk, username="alice")
    assert first is not second
    assert "wait" not in {t.name for t in await second.list_tools()}
    await get_pool().close_all()


async def test_it_reports_a_server_that_cannot_start(alice, demo_server):
    demo_server.command = "/nonexistent/program"
    await sync_to_async(demo_server.save)()
    with pytest.raises(MCPConnectError, match="could not be started"):
        await mcp_server_connect(server=demo_server, user_id=alice.pk, username="alice")
    await get_pool().close_all()


def slow_close_server() -> MCPServer:
    """A stdio server that takes the SDK's whole shutdown sequence (about 4 s) to close."""
    return MCPServer.objects.create(
        name="slow",
        transport=MCPServer.Transport.STDIO,
        command=sys.executable,
        args=["-m", "tests.fakes.slow_close_mcp_server"],
        cwd=str(settings.BASE_DIR),
        call_timeout=10,
    )


async def start_replacing(pool: Pool, server: MCPServer, user_id: int) -> tuple[Connection, asyncio.Task]:
    """Change the server's configuration and start borrowing it again; return once its old connection closes."""
    (old,) = [c for c in pool._connections.values() if c.name == server.name]
    server.denied_tools = ["wait"]
    await sync_to_async(server.save)()
    replacing = asyncio.create_task(mcp_server_connect(server=server, user_id=user_id, username="alice"))
    await asyncio.wait_for(old.stop.wait(), timeout=10)
    return old, replacing


async def test_it_serves_other_servers_while_one_connection_closes_slowly(alice, demo_server, pool):
    slow = await sync_to_async(slow_close_server)()
    await mcp_server_connect(server=slow, user_id=alice.pk, username="alice")
    demo = await mcp_server_connect(server=demo_server, user_id=alice.pk, username="alice")
    old, replacing = await start_replacing(pool, slow, alice.pk)

    started = time.monotonic()
    again = await mcp_server_connect(server=demo_server, user_id=alice.pk, username="alice")
    result = await again.call_tool("add", {"a": 2, "b": 3})
    elapsed = time.monotonic() - started
    still_closing = not old.task.done()
    replaced = await asyncio.wait_for(replacing, timeout=30)
    print(f"\nother server served in {elapsed:.3f} s; slow close done after {time.monotonic() - started:.2f} s")

    assert elapsed < 1.0, f"a call to another server waited {elapsed:.2f} s for a slow close"
    assert still_closing, "the old connection closed before the other call: the test did not overlap the close"
    assert again is demo
    assert result.content[0].text == "5"
    assert "wait" not in {t.name for t in await replaced.list_tools()}


async def test_it_leaves_no_child_process_when_shut_down_during_a_slow_close(alice, pool):
    before = children()
    slow = await sync_to_async(slow_close_server)()
    await mcp_server_connect(server=slow, user_id=alice.pk, username="alice")
    old, replacing = await start_replacing(pool, slow, alice.pk)

    await pool.close_all()

    assert old.task.done()
    assert children() == before
    with pytest.raises(MCPConnectError, match="closed while connecting"):
        await replacing
