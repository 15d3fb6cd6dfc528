"""Stopping a run tells the MCP server to stop the calls it is still making (`notifications/cancelled`)."""

from __future__ import annotations

import pytest

from mcp_servers.pool import get_pool
from tests.mcp_servers.conftest import Recording, recording  # noqa: F401 - a fixture
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_cancels_the_calls_in_flight_when_the_run_is_stopped(alice, recording: Recording):  # noqa: F811 - the fixture
    try:
        ws = await ws_connect(recording.conversation.pk, alice)
        await ws.send_json_to({"type": "message.create", "content": "/slow {}"})
        frames = await collect_until(ws, "thread.run.step.delta")
        run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
        await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
        frames = await collect_until(ws, "thread.run.cancelled", "thread.run.failed", "thread.run.completed")
        await ws.disconnect()
        assert frames[-1]["event"] == "thread.run.cancelled"
    finally:
        await get_pool().close_all()

    received = recording.received()
    call = next(m for m in received if m.get("method") == "tools/call")
    cancelled = [m for m in received if m.get("method") == "notifications/cancelled"]
    assert [m["params"]["requestId"] for m in cancelled] == [call["id"]]
