"""An MCP tool's progress notifications move its card's bar while it runs, over the socket and the API stream."""

from __future__ import annotations

import pytest

from chat.models import Conversation
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_sends_a_tools_progress_to_its_card(alice, demo_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/count {"steps": 4, "interval": 0.4}'})
    frames = await collect_until(ws, "thread.run.completed", "thread.run.failed")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    updates = [f for f in frames if f["event"] == "thread.run.step.in_progress" and "progress" in f["data"]["metadata"]]
    seen = [int(f["data"]["metadata"]["progress"]) for f in updates]
    assert seen == sorted(seen) and seen[-1] == 4 and len(seen) >= 3, seen
    last = updates[-1]["data"]["metadata"]
    assert (last["progress_total"], last["progress_message"]) == ("4", "4 of 4")
    assert all(isinstance(value, str) for f in updates for value in f["data"]["metadata"].values())
    assert '<progress max="4' in updates[-1]["entry"]["html"]
    done = next(
        f for f in frames if f["event"] == "thread.run.step.completed" and f["data"].get("type") == "tool_calls"
    )
    assert "progress" not in done["data"]["metadata"]  # a finished card shows its result, not a bar
