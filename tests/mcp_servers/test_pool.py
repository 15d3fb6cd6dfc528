from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from mcp_servers.pool import MCPConnectError, get_pool
from mcp_servers.services import mcp_server_connect

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
