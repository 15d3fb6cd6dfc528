"""Teams of assistants: a triage assistant hands off to specialists (over two providers), an assistant asks
another as a tool, cycles are refused when saving, and the links are set on the assistant's page."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from assistants.models import Assistant
from chat.models import Conversation, Message, RunStep
from core.errors import ServiceError
from observability.models import Span, Trace
from observability.services import trace_store_get
from teams.models import Link
from teams.services import link_create
from tests.fakes.openai_server import text
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def triage(alice, offline_provider) -> Assistant:
    return Assistant.objects.create(name="Triage", owner=alice, provider=offline_provider, instructions="Route.")


def assistant(owner, provider, name: str, instructions: str = "") -> Assistant:
    return Assistant.objects.create(name=name, owner=owner, provider=provider, instructions=instructions)


async def turn(user, conversation: Conversation, content: str) -> list[dict]:
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    return frames


async def answer_of(conversation: Conversation) -> str:
    message = await Message.objects.filter(conversation=conversation, role="assistant").order_by("-id").afirst()
    return message.content


async def test_it_hands_off_to_a_specialist_on_another_provider(alice, triage, vendor, fake):
    specialist = await sync_to_async(assistant)(alice, vendor, "Castle expert", "You know castles.")
    await sync_to_async(link_create)(
        user=alice, assistant=triage, target=specialist, kind="handoff", description="Castle questions."
    )
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    fake.script(text("Castles have moats."))
    frames = await turn(alice, conversation, "/handoff Castle expert what is a keep?")

    assert frames[-1]["event"] == "thread.run.completed"
    assert await answer_of(conversation) == "Castles have moats."
    # The chat shows the handoff as a step, and the answer as the specialist's.
    step = await RunStep.objects.aget(run__conversation=conversation, type="tool_calls")
    assert (step.tool_name, step.status, step.output) == (
        "transfer_to_castle_expert", "completed", "Handed off to Castle expert.",
    )  # fmt: skip
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.assistant_id == specialist.pk
    [asked] = fake.model_requests()
    assert asked.model == "fake-default"
    assert "You know castles." in str(asked.body)

    await asyncio.to_thread(trace_store_get().force_flush)
    trace = await Trace.objects.aget(run__conversation=conversation)
    handoff = await Span.objects.aget(trace=trace, kind="handoff")
    assert handoff.data == {"from_agent": "Triage", "to_agent": "Castle expert"}


async def test_it_hands_off_to_an_offline_specialist_who_answers_the_message(alice, triage, offline_provider):
    specialist = await sync_to_async(assistant)(alice, offline_provider, "Billing desk")
    await sync_to_async(link_create)(user=alice, assistant=triage, target=specialist, kind="handoff")
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    frames = await turn(alice, conversation, "/handoff Billing desk where is my invoice")
    assert frames[-1]["event"] == "thread.run.completed"
    assert "“where is my invoice”" in await answer_of(conversation)


async def test_it_says_whom_it_can_hand_off_to_when_the_name_is_unknown(alice, triage, offline_provider):
    specialist = await sync_to_async(assistant)(alice, offline_provider, "Billing desk")
    await sync_to_async(link_create)(user=alice, assistant=triage, target=specialist, kind="handoff")
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    await turn(alice, conversation, "/handoff Nobody")
    assert "I can hand off to: `Billing desk`" in await answer_of(conversation)


async def test_it_asks_another_assistant_as_a_tool(alice, triage, offline_provider):
    researcher = await sync_to_async(assistant)(alice, offline_provider, "Researcher")
    await sync_to_async(link_create)(user=alice, assistant=triage, target=researcher, kind="tool")
    conversation = await Conversation.objects.acreate(owner=alice, assistant=triage)
    frames = await turn(alice, conversation, '/ask_researcher {"input": "find castles"}')

    assert frames[-1]["event"] == "thread.run.completed"
    step = await RunStep.objects.aget(run__conversation=conversation, type="tool_calls")
    assert (step.tool_name, step.status) == ("ask_researcher", "completed")
    assert "“find castles”" in step.output
    assert (await answer_of(conversation)).startswith("The tool `ask_researcher` returned:")


def test_it_refuses_a_link_that_makes_a_cycle(alice, triage, offline_provider):
    first = assistant(alice, offline_provider, "First")
    second = assistant(alice, offline_provider, "Second")
    link_create(user=alice, assistant=triage, target=first, kind="handoff")
    link_create(user=alice, assistant=first, target=second, kind="tool")
    with pytest.raises(ServiceError) as refused:
        link_create(user=alice, assistant=second, target=triage, kind="handoff")
    assert refused.value.code == "team_cycle"
    assert "would make a cycle" in refused.value.message
    with pytest.raises(ServiceError):
        link_create(user=alice, assistant=triage, target=triage, kind="tool")
    assert Link.objects.count() == 2


def test_it_refuses_a_link_to_another_users_assistant(alice, bob, triage, offline_provider):
    bobs = assistant(bob, offline_provider, "Bob's")
    with pytest.raises(ServiceError) as refused:
        link_create(user=alice, assistant=triage, target=bobs, kind="handoff")
    assert refused.value.fields == {"target": ["Choose an assistant you may use."]}
    with pytest.raises(ServiceError):
        link_create(user=bob, assistant=triage, target=bobs, kind="handoff")
    assert not Link.objects.exists()


def test_it_links_and_unlinks_assistants_on_the_page(alice, bob, triage, offline_provider):
    specialist = assistant(alice, offline_provider, "Specialist")
    client = Client()
    client.force_login(alice)
    page = client.get(reverse("assistants:assistant_detail", args=[triage.pk])).content.decode()
    assert "Add to the team" in page and "Specialist" in page

    response = client.post(
        reverse("teams:link_create", args=[triage.pk]),
        {"target": specialist.pk, "kind": "handoff", "description": "Hard questions."},
    )
    assert response.status_code == 302
    link = Link.objects.get()
    assert (link.target_id, link.kind, link.description) == (specialist.pk, "handoff", "Hard questions.")
    page = client.get(reverse("assistants:assistant_detail", args=[triage.pk])).content.decode()
    assert "Hands off to" in page and "Hard questions." in page

    refused = client.post(
        reverse("teams:link_create", args=[specialist.pk]), {"target": triage.pk, "kind": "tool"}, follow=True
    )
    assert "would make a cycle" in refused.content.decode()

    other = Client()
    other.force_login(bob)
    assert other.post(reverse("teams:link_delete", args=[triage.pk, link.pk])).status_code == 404
    assert client.post(reverse("teams:link_delete", args=[triage.pk, link.pk])).status_code == 302
    assert not Link.objects.exists()
