"""Stopping a run tells the MCP server to stop the calls it is still making (`notifications/cancelled`)."""

from __future__ import annotations

import json
import sys

import pytest

from assistants.models import Assistant
from chat.models import Conversation
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_cancels_the_calls_in_flight_when_the_run_is_stopped(alice, offline_provider, tmp_path, settings):
    # The server writes its log where a sandboxed server may not.
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    log = tmp_path / "received.jsonl"
    server = await MCPServer.objects.acreate(
        name="recording",
        command=sys.executable,
        args=[str(settings.BASE_DIR / "tests" / "fakes" / "recording_mcp_server.py"), str(log)],
        cwd=str(settings.BASE_DIR),
        call_timeout=60,
    )
    assistant = await Assistant.objects.acreate(name="Stopper", owner=alice, provider=offline_provider)
    await assistant.mcp_servers.aset([server])
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    try:
        ws = await ws_connect(conversation.pk, alice)
        await ws.send_json_to({"type": "message.create", "content": "/slow {}"})
        frames = await collect_until(ws, "thread.run.step.delta")
        run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
        await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
        frames = await collect_until(ws, "thread.run.cancelled", "thread.run.failed", "thread.run.completed")
        await ws.disconnect()
        assert frames[-1]["event"] == "thread.run.cancelled"
    finally:
        await get_pool().close_all()

    received = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    call = next(m for m in received if m.get("method") == "tools/call")
    cancelled = [m for m in received if m.get("method") == "notifications/cancelled"]
    assert [m["params"]["requestId"] for m in cancelled] == [call["id"]]
