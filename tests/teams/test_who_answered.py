"""Who answered, everywhere: after a handoff the API's messages and run steps carry the target assistant's id,
a sub-assistant's tool calls are steps under the call that asked it, in its name, and the chat page names the
assistant on each answer, draws a handoff as a line and a sub-assistant's calls under the call that asked it."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from assistants.models import Assistant
from chat.models import Conversation, RunStep
from core.tokens import token_create
from teams.services import link_create
from tests.api.conftest import AsyncApi
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def team(alice, offline_provider, demo_server) -> tuple[Assistant, Assistant, Assistant]:
    """A triage assistant that hands off to a billing desk and asks a researcher (who has the demo tools)."""
    triage = Assistant.objects.create(name="Triage", owner=alice, provider=offline_provider)
    billing = Assistant.objects.create(name="Billing desk", owner=alice, provider=offline_provider)
    researcher = Assistant.objects.create(name="Researcher", owner=alice, provider=offline_provider)
    researcher.mcp_servers.add(demo_server)
    link_create(user=alice, assistant=triage, target=billing, kind="handoff")
    link_create(user=alice, assistant=triage, target=researcher, kind="tool")
    return triage, billing, researcher


async def turn(user, conversation: Conversation, content: str) -> list[dict]:
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    return frames


async def api_of(user) -> AsyncApi:
    return AsyncApi(AsyncClient(), (await sync_to_async(token_create)(user=user, name="test"))[1])


async def test_it_says_in_the_api_which_assistant_answered_after_a_handoff(alice, team):
    triage, billing, _ = team
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    frames = await turn(alice, conversation, "/handoff Billing desk where is my invoice")
    api = await api_of(alice)

    messages = (await api.get(f"threads/{conversation.pk}/messages", order="asc")).json()["data"]
    assert [(m["role"], m["assistant_id"]) for m in messages] == [("user", None), ("assistant", billing.pk)]
    run_id = messages[1]["run_id"]
    run = (await api.get(f"threads/{conversation.pk}/runs/{run_id}")).json()
    assert run["assistant_id"] == triage.pk  # the run is the one the user started, with the triage assistant
    steps = (await api.get(f"threads/{conversation.pk}/runs/{run_id}/steps", order="asc")).json()["data"]
    assert [(s["type"], s["assistant_id"]) for s in steps] == [
        ("tool_calls", triage.pk),  # the handoff itself
        ("message_creation", billing.pk),
    ]
    # The live events say the same.
    created = [f["data"] for f in frames if f["event"] == "thread.message.created" and f["data"]["role"] != "user"]
    assert [m["assistant_id"] for m in created] == [billing.pk]


async def test_it_records_a_sub_assistants_tool_calls_under_the_call_that_asked_it(alice, team):
    triage, _, researcher = team
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    ask = json.dumps({"input": '/add {"a": 2, "b": 3}'})
    frames = await turn(alice, conversation, f"/ask_researcher {ask}")

    steps = {step.tool_name: step async for step in RunStep.objects.filter(run__conversation=conversation)}
    asked, added = steps["ask_researcher"], steps["add"]
    assert (asked.tool_name, asked.assistant_id, asked.parent_id, asked.status) == (
        "ask_researcher", triage.pk, None, "completed",
    )  # fmt: skip
    assert (added.tool_name, added.assistant_id, added.parent_id, added.status, added.output) == (
        "add", researcher.pk, asked.pk, "completed", "5",
    )  # fmt: skip
    assert added.server_name == "demo"

    api = await api_of(alice)
    listed = (await api.get(f"threads/{conversation.pk}/runs/{asked.run_id}/steps", order="asc")).json()["data"]
    nested = next(s for s in listed if s["id"] == added.pk)
    assert nested["assistant_id"] == researcher.pk and nested["metadata"]["parent_step"] == asked.pk
    # The page was told of the sub-assistant's call as it happened, as a card under the asking one.
    live = [f for f in frames if f["event"] == "thread.run.step.completed" and f["data"]["id"] == added.pk]
    assert "tool-nested" in live[-1]["entry"]["html"] and "Researcher ·" in live[-1]["entry"]["html"]


async def test_it_names_the_assistant_on_each_answer_and_draws_the_handoff_on_the_page(alice, bob, team):
    triage = team[0]
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    await turn(alice, conversation, "hello")
    frames = await turn(alice, conversation, "/handoff Billing desk where is my invoice")
    handoff = next(f for f in frames if f["event"] == "thread.run.step.completed")
    assert '<li class="handoff-note"' in handoff["entry"]["html"]
    answer = next(f for f in frames if f["event"] == "thread.message.completed")
    assert '<p class="answer-author">Billing desk</p>' in answer["entry"]["html"]

    page = (await page_of(alice, conversation)).content.decode()
    assert page.count('<p class="answer-author">Triage</p>') == 1
    assert page.count('<p class="answer-author">Billing desk</p>') == 1
    assert "Handed off to Billing desk." in page
    assert 'title="Written by Billing desk with the model offline"' in page
    assert "transfer_to_billing_desk" not in page  # a line, not a tool card
    assert (await page_of(bob, conversation)).status_code == 404


async def page_of(user, conversation: Conversation):
    client = AsyncClient()
    await client.aforce_login(user)
    return await client.get(f"/conversations/{conversation.pk}/")
