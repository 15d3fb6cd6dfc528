"""Guardrails in real runs, over the WebSocket and the API: a tripped input guardrail stops the run before the
model is called, a tripped output guardrail withholds the answer; either way the run fails `guardrail_tripped`
saying which guardrail refused and why, the user's message stays, and the trace has the guardrail's span."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from assistants.models import Assistant
from chat.models import Conversation, Message, Run, RunStep
from chat.services import run_wait
from core.tokens import token_create
from guardrails.models import Guardrail
from observability.models import Span, Trace
from observability.services import trace_store_get
from tests.api.conftest import AsyncApi
from tests.fakes.openai_server import text
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


async def turn(user, conversation: Conversation, content: str) -> list[dict]:
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    return frames


def answers(frames: list[dict]) -> list[dict]:
    """The frames about the assistant's messages (the user's own message is announced too)."""
    return [f for f in frames if f["event"].startswith("thread.message.") and f["data"].get("role") != "user"]


async def messages_of(conversation: Conversation) -> list[tuple[str, str]]:
    return [(m.role, m.content) async for m in Message.objects.filter(conversation=conversation).order_by("id")]


async def test_it_stops_a_refused_message_before_the_model_and_keeps_it(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="No plans", kind="blocklist", words=["secret plan"])
    frames = await turn(alice, conversation, "Tell me the Secret Plan")

    failed = frames[-1]
    assert failed["event"] == "thread.run.failed"
    assert failed["data"]["last_error"] == {
        "code": "guardrail_tripped",
        "message": "The input guardrail “No plans” refused the message: it contains the blocked word “secret plan”.",
    }
    assert not answers(frames)
    assert await messages_of(conversation) == [("user", "Tell me the Secret Plan")]
    run = await Run.objects.aget(conversation=conversation)
    assert (run.status, run.last_error_code, run.total_tokens) == ("failed", "guardrail_tripped", 0)


async def test_it_answers_a_message_every_guardrail_passes(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="No plans", kind="blocklist", words=["secret plan"])
    await Guardrail.objects.acreate(assistant=helper, name="Short", kind="max_length", max_chars=5000, stage="both")
    frames = await turn(alice, conversation, "Tell me a joke")
    assert frames[-1]["event"] == "thread.run.completed"
    assert [role for role, _ in await messages_of(conversation)] == ["user", "assistant"]


async def test_it_withholds_an_answer_an_output_guardrail_refuses(alice, conversation, helper):
    await Guardrail.objects.acreate(
        assistant=helper, name="No self-talk", kind="blocklist", stage="output", words=["offline model"]
    )
    frames = await turn(alice, conversation, "hello")

    assert frames[-1]["event"] == "thread.run.failed"
    assert frames[-1]["data"]["last_error"]["message"] == (
        "The output guardrail “No self-talk” withheld the answer: it contains the blocked word “offline model”."
    )
    # Not a word of the refused answer reached the chat, live or stored.
    assert not answers(frames)
    assert await messages_of(conversation) == [("user", "hello")]


async def test_it_streams_an_answer_the_output_guardrails_pass(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="Short", kind="max_length", stage="output", max_chars=5000)
    frames = await turn(alice, conversation, "hello")
    assert frames[-1]["event"] == "thread.run.completed"
    deltas = "".join(
        part["text"]["value"]
        for f in frames
        if f["event"] == "thread.message.delta"
        for part in f["data"]["delta"]["content"]
    )
    assert "offline model" in deltas
    assert (await messages_of(conversation))[-1][0] == "assistant"


async def test_it_lets_a_tool_call_through_and_checks_the_answer_after_it(alice, conversation, helper, demo_server):
    await helper.mcp_servers.aadd(demo_server)
    await Guardrail.objects.acreate(assistant=helper, name="No fives", kind="blocklist", stage="output", words=["5"])
    frames = await turn(alice, conversation, '/add {"a": 2, "b": 3}')
    assert frames[-1]["event"] == "thread.run.failed"
    assert "“No fives” withheld the answer" in frames[-1]["data"]["last_error"]["message"]
    # The tool call happened and is shown; only the answer that quoted its result is withheld.
    assert [f for f in frames if f["event"] == "thread.run.step.completed"]
    assert [role for role, _ in await messages_of(conversation)] == ["user"]


async def test_it_refuses_personal_data_in_a_message(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="PII", kind="pii", pii_types=["email", "phone", "card"])
    frames = await turn(alice, conversation, "my card is 4111 1111 1111 1111")
    assert frames[-1]["data"]["last_error"]["message"] == (
        "The input guardrail “PII” refused the message: it contains a payment card number."
    )
    assert "4111" not in (await Run.objects.aget(conversation=conversation)).last_error


async def test_it_checks_every_assistant_with_a_mandatory_guardrail(alice, bob, offline_provider):
    await Guardrail.objects.acreate(name="House rule", kind="blocklist", words=["forbidden"], mandatory=True)
    # Not mandatory and on no assistant: checks nothing.
    await Guardrail.objects.acreate(name="Draft", kind="blocklist", words=["hello"])
    assistant = await Assistant.objects.acreate(name="Bob's", owner=bob, provider=offline_provider)
    conversation = await Conversation.objects.acreate(owner=bob, assistant=assistant)
    frames = await turn(bob, conversation, "hello, say something forbidden")
    assert frames[-1]["data"]["last_error"]["message"].startswith("The input guardrail “House rule” refused")


async def test_it_ignores_a_disabled_guardrail(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="Off", kind="max_length", max_chars=1, enabled=False)
    frames = await turn(alice, conversation, "hello")
    assert frames[-1]["event"] == "thread.run.completed"


async def test_it_moderates_through_the_providers_endpoint(alice, vendor, fake):
    assistant = await Assistant.objects.acreate(name="Vendor assistant", owner=alice, provider=vendor)
    await Guardrail.objects.acreate(assistant=assistant, name="Moderation", kind="moderation", stage="both")
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)

    frames = await turn(alice, conversation, "I will attack the castle")
    assert frames[-1]["data"]["last_error"]["message"] == (
        "The input guardrail “Moderation” refused the message: the provider's moderation flagged it (violence)."
    )
    assert not fake.model_requests()  # the model was never asked

    fake.script(text("That would be an insult to them."))
    frames = await turn(alice, conversation, "Tell me about castles")
    assert frames[-1]["data"]["last_error"]["message"] == (
        "The output guardrail “Moderation” withheld the answer: the provider's moderation flagged it (harassment)."
    )
    assert len(fake.model_requests()) == 1


async def test_it_asks_a_judge_and_refuses_on_its_yes(alice, conversation, helper, vendor, fake):
    judge = await Assistant.objects.acreate(name="Doctor check", owner=alice, provider=vendor)
    await Guardrail.objects.acreate(
        assistant=helper, name="No medicine", kind="llm_judge", judge=judge, question="Does it ask for medical advice?"
    )
    fake.script(text("yes"), text("no"))
    frames = await turn(alice, conversation, "which pills for a headache?")
    assert frames[-1]["data"]["last_error"]["message"] == (
        "The input guardrail “No medicine” refused the message: "
        "Doctor check answered yes to “Does it ask for medical advice?”."
    )
    frames = await turn(alice, conversation, "what is a castle?")
    assert frames[-1]["event"] == "thread.run.completed"


async def test_it_stores_the_guardrails_span_in_the_trace(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="No plans", kind="blocklist", words=["plan"])
    await Guardrail.objects.acreate(assistant=helper, name="Short", kind="max_length", max_chars=500)
    await turn(alice, conversation, "the plan")
    await asyncio.to_thread(trace_store_get().force_flush)
    trace = await Trace.objects.aget(run__conversation=conversation)
    spans = {span.name: span async for span in Span.objects.filter(trace=trace, kind="guardrail")}
    assert spans["No plans"].outcome == "error" and spans["No plans"].data == {"triggered": True}
    assert spans["Short"].data == {"triggered": False}
    assert trace.error_code == "guardrail_tripped"


async def test_it_fails_a_run_over_the_api_with_the_guardrails_reason(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="Short", kind="max_length", max_chars=5)
    token = (await sync_to_async(token_create)(user=alice, name="test"))[1]
    api = AsyncApi(AsyncClient(), token)
    await Message.objects.acreate(conversation=conversation, role="user", content="far too long")
    response = await api.post(f"threads/{conversation.pk}/runs", {"assistant_id": helper.pk})
    assert response.status_code == 200, response.content
    run = await run_wait(user=alice, run_id=response.json()["id"], timeout=30)
    body = (await api.get(f"threads/{conversation.pk}/runs/{run.pk}")).json()
    assert body["status"] == "failed"
    assert body["last_error"] == {
        "code": "guardrail_tripped",
        "message": "The input guardrail “Short” refused the message: it has 12 characters, more than the 5 allowed.",
    }


async def test_it_stops_a_tool_call_whose_arguments_a_guardrail_refuses(alice, conversation, helper, demo_server):
    await helper.mcp_servers.aadd(demo_server)
    await Guardrail.objects.acreate(
        assistant=helper, name="No sevens", kind="blocklist", stage="tool", patterns=[r'"a":\s*7\b']
    )
    frames = await turn(alice, conversation, '/add {"a": 7, "b": 1}')
    assert frames[-1]["data"]["last_error"] == {
        "code": "guardrail_tripped",
        "message": "The tool-call guardrail “No sevens” refused a call of `add`: "
        'it matches the blocked pattern “"a":\\s*7\\b”.',
    }
    step = await RunStep.objects.aget(run__conversation=conversation, type="tool_calls")
    assert (step.tool_name, step.status, step.output) == ("add", "failed", "")  # the server was never called


async def test_it_lets_a_tool_call_the_guardrails_pass_run(alice, conversation, helper, demo_server):
    await helper.mcp_servers.aadd(demo_server)
    await Guardrail.objects.acreate(
        assistant=helper, name="No sevens", kind="blocklist", stage="tool", patterns=[r'"a":\s*7\b']
    )
    # A tool-call guardrail checks tool calls only: the message and the answer are not its business.
    frames = await turn(alice, conversation, '/add {"a": 70, "b": 1}')
    assert frames[-1]["event"] == "thread.run.completed"
    step = await RunStep.objects.aget(run__conversation=conversation, type="tool_calls")
    assert (step.status, step.output) == ("completed", "71")
