from __future__ import annotations

import json

import pytest

from chat import executor as executor_module
from chat.models import Conversation, Message, Run, RunStep
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from tests.ws import collect_until, names, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def conversation(alice, demo_assistant, demo_server):
    demo_server.approval = MCPServer.Approval.LISTED
    demo_server.approval_tools = ["add"]
    demo_server.save()
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


async def _pause(ws, content: str = '/add {"a": 2, "b": 3}') -> tuple[dict, list[dict]]:
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, "thread.run.requires_action", *TERMINAL)
    assert frames[-1]["event"] == "thread.run.requires_action"
    return frames[-1]["data"], frames


async def _answer(conversation) -> str:
    message = await Message.objects.filter(conversation=conversation, role="assistant").order_by("-id").afirst()
    return message.content


async def test_it_pauses_a_run_at_a_tool_that_needs_approval(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    run_data, frames = await _pause(ws)

    call = run_data["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    assert run_data["status"] == "requires_action"
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    step_frames = [
        f["data"] for f in frames if f["event"].startswith("thread.run.step") and f["data"].get("type") == "tool_calls"
    ]
    assert step_frames[-1]["metadata"]["approval"] == "pending"
    assert step_frames[-1]["status"] == "in_progress"
    run = await Run.objects.aget(pk=run_data["id"])
    assert run.status == Run.Status.REQUIRES_ACTION
    assert run.paused_state
    # The tool has not run: nothing was answered yet.
    step = await RunStep.objects.aget(run=run, type="tool_calls")
    assert step.output == ""
    await ws.disconnect()


async def test_it_runs_the_tool_once_approved(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    run_data, _ = await _pause(ws)
    call_id = run_data["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]

    await ws.send_json_to({"type": "run.approve", "run_id": run_data["id"], "tool_call_id": call_id})
    frames = await collect_until(ws, *TERMINAL)

    assert frames[-1]["event"] == "thread.run.completed"
    assert "thread.run.queued" in names(frames)
    step = await RunStep.objects.aget(run_id=run_data["id"], type="tool_calls")
    assert (step.status, step.output) == ("completed", "5")
    assert "5" in await _answer(conversation)
    run = await Run.objects.aget(pk=run_data["id"])
    assert run.paused_state == ""
    assert run.approval_of(call_id) == "approved"
    await ws.disconnect()


async def test_it_tells_the_model_when_the_user_denies(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    run_data, _ = await _pause(ws)
    call_id = run_data["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]

    await ws.send_json_to({"type": "run.deny", "run_id": run_data["id"], "tool_call_id": call_id})
    frames = await collect_until(ws, *TERMINAL)

    assert frames[-1]["event"] == "thread.run.completed"
    step = await RunStep.objects.aget(run_id=run_data["id"], type="tool_calls")
    assert step.status == "cancelled"
    assert "refused" in step.output
    assert "refused" in await _answer(conversation)
    step_done = next(f["data"] for f in frames if f["event"] == "thread.run.step.cancelled")
    assert step_done["metadata"]["approval"] == "denied"
    await ws.disconnect()


async def test_it_resumes_a_paused_run_after_a_restart(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    run_data, _ = await _pause(ws)
    call_id = run_data["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    await ws.disconnect()
    # What a restart loses: every MCP connection and the executor with its tasks.
    await get_pool().close_all()
    executor_module._executors.clear()

    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "run.approve", "run_id": run_data["id"], "tool_call_id": call_id})
    frames = await collect_until(ws, *TERMINAL)

    assert frames[-1]["event"] == "thread.run.completed"
    step = await RunStep.objects.aget(run_id=run_data["id"], type="tool_calls")
    assert (step.status, step.output) == ("completed", "5")
    await ws.disconnect()


async def test_it_refuses_decisions_on_runs_that_do_not_wait(alice, bob, conversation, demo_assistant):
    ws = await ws_connect(conversation.pk, alice)
    run_data, _ = await _pause(ws)
    call_id = run_data["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]

    await ws.send_json_to({"type": "run.approve", "run_id": run_data["id"], "tool_call_id": "call_unknown"})
    assert (await collect_until(ws, "error"))[-1]["data"]["code"] == "invalid_tool_call_id"
    await ws.send_json_to({"type": "message.create", "content": "hello"})
    assert (await collect_until(ws, "error"))[-1]["data"]["code"] == "run_active"

    bobs = await Conversation.objects.acreate(owner=bob, assistant=demo_assistant)
    ws_bob = await ws_connect(bobs.pk, bob)
    await ws_bob.send_json_to({"type": "run.approve", "run_id": run_data["id"], "tool_call_id": call_id})
    assert (await collect_until(ws_bob, "error"))[-1]["data"]["code"] == "not_found"
    assert (await Run.objects.aget(pk=run_data["id"])).status == Run.Status.REQUIRES_ACTION

    await ws.send_json_to({"type": "run.deny", "run_id": run_data["id"], "tool_call_id": call_id})
    await collect_until(ws, *TERMINAL)
    await ws.send_json_to({"type": "run.approve", "run_id": run_data["id"], "tool_call_id": call_id})
    assert (await collect_until(ws, "error"))[-1]["data"]["code"] == "run_not_paused"
    await ws.disconnect()
    await ws_bob.disconnect()
