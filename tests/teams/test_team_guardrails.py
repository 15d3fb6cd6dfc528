"""Guardrails on a team: a sub-assistant (a handoff target, or an assistant asked as a tool) runs with its own
guardrails and the mandatory ones; a handoff target's answers also pass the guardrails of the assistant that
handed off to it; a mandatory guardrail is checked once."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from assistants.models import Assistant
from chat.models import Conversation, Message, RunStep
from core.models import AuditEntry
from guardrails.models import Guardrail
from guardrails.services import GUARDRAIL_TRIPPED
from observability.models import Span
from observability.services import trace_store_get
from teams.services import link_create
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def triage(alice, offline_provider) -> Assistant:
    return Assistant.objects.create(name="Triage", owner=alice, provider=offline_provider)


@pytest.fixture
def billing(alice, offline_provider, triage) -> Assistant:
    desk = Assistant.objects.create(name="Billing desk", owner=alice, provider=offline_provider)
    link_create(user=alice, assistant=triage, target=desk, kind="handoff")
    return desk


@pytest.fixture
def researcher(alice, offline_provider, triage) -> Assistant:
    member = Assistant.objects.create(name="Researcher", owner=alice, provider=offline_provider)
    link_create(user=alice, assistant=triage, target=member, kind="tool")
    return member


async def turn(user, assistant: Assistant, content: str) -> tuple[Conversation, list[dict]]:
    conversation = await Conversation.objects.acreate(owner=user, assistant=assistant)
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    return conversation, frames


def answers(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["event"].startswith("thread.message.") and f["data"].get("role") != "user"]


async def test_it_checks_the_message_with_the_handoff_targets_input_guardrails(alice, triage, billing):
    await Guardrail.objects.acreate(assistant=billing, name="No refunds", kind="blocklist", words=["refund"])
    conversation, frames = await turn(alice, triage, "/handoff Billing desk I want a refund")

    assert frames[-1]["event"] == "thread.run.failed"
    assert frames[-1]["data"]["last_error"] == {
        "code": "guardrail_tripped",
        "message": "The input guardrail “No refunds” refused the message: it contains the blocked word “refund”.",
    }
    assert not answers(frames)
    step = await RunStep.objects.aget(run__conversation=conversation, type="tool_calls")
    assert (step.tool_name, step.status) == ("transfer_to_billing_desk", "failed")
    entry = await AuditEntry.objects.aget(action=GUARDRAIL_TRIPPED)
    assert (entry.target, entry.details["assistant"], entry.details["stage"]) == ("No refunds", billing.pk, "input")


async def test_it_lets_a_handoff_through_that_the_targets_guardrails_pass(alice, triage, billing):
    await Guardrail.objects.acreate(assistant=billing, name="No refunds", kind="blocklist", words=["refund"])
    conversation, frames = await turn(alice, triage, "/handoff Billing desk where is my invoice")
    assert frames[-1]["event"] == "thread.run.completed"
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.assistant_id == billing.pk and "where is my invoice" in answer.content


@pytest.mark.parametrize("whose", ["the target's", "the triage assistant's"])
async def test_it_withholds_a_handoff_targets_answer_an_output_guardrail_refuses(alice, triage, billing, whose):
    # The target's own guardrail holds its answer back even though the triage assistant checks no answers; and
    # the triage assistant's guardrails check the answers of whoever it hands the user to.
    owner = billing if whose == "the target's" else triage
    await Guardrail.objects.acreate(
        assistant=owner, name="Quiet", kind="blocklist", stage="output", words=["offline model"]
    )
    conversation, frames = await turn(alice, triage, "/handoff Billing desk where is my invoice")
    assert frames[-1]["data"]["last_error"]["message"].startswith("The output guardrail “Quiet” withheld")
    assert not answers(frames)
    assert not await Message.objects.filter(conversation=conversation, role="assistant").aexists()


async def test_it_checks_a_mandatory_guardrail_once_across_a_handoff(alice, triage, billing):
    await Guardrail.objects.acreate(name="House rule", kind="max_length", max_chars=5000, mandatory=True)
    conversation, frames = await turn(alice, triage, "/handoff Billing desk where is my invoice")
    assert frames[-1]["event"] == "thread.run.completed"
    await sync_to_async(trace_store_get().force_flush)()
    checked = [span async for span in Span.objects.filter(trace__run__conversation=conversation, kind="guardrail")]
    assert [span.name for span in checked] == ["House rule"]


async def test_it_checks_what_an_assistant_asked_as_a_tool_is_asked(alice, triage, researcher):
    await Guardrail.objects.acreate(assistant=researcher, name="No secrets", kind="blocklist", words=["secret"])
    conversation, frames = await turn(alice, triage, '/ask_researcher {"input": "find the secret castles"}')
    assert frames[-1]["event"] == "thread.run.failed"
    assert frames[-1]["data"]["last_error"]["message"] == (
        "The input guardrail “No secrets” refused the message: it contains the blocked word “secret”."
    )
    step = await RunStep.objects.aget(run__conversation=conversation, type="tool_calls")
    assert (step.tool_name, step.status) == ("ask_researcher", "failed")
    entry = await AuditEntry.objects.aget(action=GUARDRAIL_TRIPPED)
    assert entry.details["assistant"] == researcher.pk


async def test_it_checks_what_an_assistant_asked_as_a_tool_answers(alice, triage, researcher):
    await Guardrail.objects.acreate(
        assistant=researcher, name="Researcher quiet", kind="max_length", stage="output", max_chars=20
    )
    _, frames = await turn(alice, triage, '/ask_researcher {"input": "find castles"}')
    assert frames[-1]["data"]["last_error"]["message"].startswith(
        "The output guardrail “Researcher quiet” withheld the answer: it has"
    )


async def test_it_checks_the_tool_calls_of_an_assistant_asked_as_a_tool(alice, triage, researcher, demo_server):
    await researcher.mcp_servers.aadd(demo_server)
    await Guardrail.objects.acreate(
        assistant=researcher, name="No sevens", kind="blocklist", stage="tool", patterns=[r'"a":\s*7\b']
    )
    ask = json.dumps({"input": '/add {"a": 7, "b": 1}'})
    _, frames = await turn(alice, triage, f"/ask_researcher {ask}")
    assert frames[-1]["data"]["last_error"]["message"].startswith(
        "The tool-call guardrail “No sevens” refused a call of `add`"
    )
    ask = json.dumps({"input": '/add {"a": 70, "b": 1}'})
    conversation, frames = await turn(alice, triage, f"/ask_researcher {ask}")
    assert frames[-1]["event"] == "thread.run.completed"
    assert "71" in (await Message.objects.aget(conversation=conversation, role="assistant")).content
