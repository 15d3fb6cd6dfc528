"""A conversation whose assistant has function tools: the chat page shows the waiting call and its owner types
the output by hand, as the API's caller would submit it."""

from __future__ import annotations

import pytest

from assistants.models import Assistant
from chat.models import Conversation, Message, Run, RunStep
from tests.ws import collect_until, receive, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.expired")
LOOKUP = {"name": "lookup", "description": "Look a word up.", "parameters": {"type": "object", "properties": {}}}


@pytest.fixture
def conversation(alice, offline_provider, demo_server) -> Conversation:
    assistant = Assistant.objects.create(name="Caller", owner=alice, provider=offline_provider, functions=[LOOKUP])
    assistant.mcp_servers.add(demo_server)
    return Conversation.objects.create(owner=alice, assistant=assistant)


async def test_it_waits_for_a_typed_output_and_answers_with_it(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "/lookup {}"})
    frames = await collect_until(ws, "thread.run.requires_action")
    run = frames[-1]["data"]
    call_id = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    waiting = [f for f in frames if f["event"].startswith("thread.run.step") and f.get("entry")][-1]
    assert waiting["data"]["metadata"]["kind"] == "function"
    assert "Waiting for its output" in waiting["entry"]["html"]
    assert 'data-action="tool-output"' in waiting["entry"]["html"]
    assert 'data-action="approve"' not in waiting["entry"]["html"]

    # Approving is not answering: a function call needs its output.
    await ws.send_json_to({"type": "run.approve", "run_id": run["id"], "tool_call_id": call_id})
    refused = await receive(ws)
    assert refused["event"] == "error" and "submit its output" in refused["data"]["message"]

    await ws.send_json_to({"type": "run.tool_output", "run_id": run["id"], "tool_call_id": call_id, "output": "42"})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    answer = await Message.objects.filter(conversation=conversation, role="assistant").order_by("-id").afirst()
    assert "42" in answer.content
    step = await RunStep.objects.aget(run_id=run["id"], type="tool_calls")
    assert (step.output, step.status) == ("42", "completed")


async def test_it_refuses_an_output_that_is_not_text(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "/lookup {}"})
    frames = await collect_until(ws, "thread.run.requires_action")
    run = frames[-1]["data"]
    call_id = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    await ws.send_json_to({"type": "run.tool_output", "run_id": run["id"], "tool_call_id": call_id, "output": 7})
    refused = await receive(ws)
    await ws.disconnect()
    assert refused["event"] == "error" and refused["data"]["code"] == "invalid_output"
    assert (await Run.objects.aget(pk=run["id"])).status == Run.Status.REQUIRES_ACTION
