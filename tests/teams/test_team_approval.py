"""Approval inside a team: a tool of a sub-assistant's MCP server that needs approval pauses the whole run,
whether the sub-assistant was asked as a tool or handed the conversation; the user's decision resumes it."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from assistants.models import Assistant
from chat.models import Conversation, Message, Run
from mcp_servers.models import MCPServer
from teams.services import link_create
from tests.fakes.openai_server import tool_call
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

ASK = json.dumps({"input": '/add {"a": 2, "b": 3}'})
TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def guarded_demo(demo_server) -> MCPServer:
    demo_server.approval = MCPServer.Approval.LISTED
    demo_server.approval_tools = ["add"]
    demo_server.save()
    return demo_server


@pytest.fixture
def triage(alice, offline_provider) -> Assistant:
    return Assistant.objects.create(name="Triage", owner=alice, provider=offline_provider)


@pytest.fixture
def conversation(alice, triage, offline_provider, guarded_demo) -> Conversation:
    """A conversation with a triage assistant that asks a researcher, whose `add` tool needs approval."""
    researcher = Assistant.objects.create(name="Researcher", owner=alice, provider=offline_provider)
    researcher.mcp_servers.add(guarded_demo)
    link_create(user=alice, assistant=triage, target=researcher, kind="tool")
    return Conversation.objects.create(owner=alice, assistant=triage)


async def paused(ws, content: str) -> dict:
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, "thread.run.requires_action", *TERMINAL)
    assert frames[-1]["event"] == "thread.run.requires_action", frames[-1]
    return frames[-1]["data"]


async def decide(ws, run: dict, decision: str) -> list[dict]:
    [call] = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    await ws.send_json_to({"type": decision, "run_id": run["id"], "tool_call_id": call["id"]})
    return await collect_until(ws, *TERMINAL)


async def answer(conversation: Conversation) -> Message:
    return await Message.objects.filter(conversation=conversation, role="assistant").order_by("-id").afirst()


async def test_it_pauses_for_approval_inside_an_assistant_asked_as_a_tool(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    run = await paused(ws, f"/ask_researcher {ASK}")
    assert (await Run.objects.aget(pk=run["id"])).status == "requires_action"
    frames = await decide(ws, run, "run.approve")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    reply = await answer(conversation)
    assert reply.content.startswith("The tool `ask_researcher` returned:") and "5" in reply.content


async def test_it_tells_an_assistant_asked_as_a_tool_that_the_user_denied(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    frames = await decide(ws, await paused(ws, f"/ask_researcher {ASK}"), "run.deny")
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    assert "refused" in (await answer(conversation)).content


async def test_it_pauses_for_approval_inside_a_handoff_target_on_another_provider(
    alice, triage, vendor, fake, guarded_demo
):
    specialist = await Assistant.objects.acreate(name="Calculator", owner=alice, provider=vendor)
    await specialist.mcp_servers.aadd(guarded_demo)
    await sync_to_async(link_create)(user=alice, assistant=triage, target=specialist, kind="handoff")
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    ws = await ws_connect(conversation.pk, alice)
    fake.script(tool_call("add", {"a": 2, "b": 3}))

    run = await paused(ws, "/handoff Calculator add two and three")
    frames = await decide(ws, run, "run.approve")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    reply = await answer(conversation)
    # The fake model answers with the tool's result once it has it, as the specialist.
    assert "5" in reply.content
    assert reply.assistant_id == specialist.pk
    assert "5" in fake.model_requests()[-1].tool_outputs
