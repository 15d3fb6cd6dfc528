"""A run a guardrail stopped is in the audit log: which guardrail, at which stage, of which assistant, in which
run, and why; never the text that tripped it."""

from __future__ import annotations

import json

import pytest

from chat.models import Conversation, Run
from core.models import AuditEntry
from guardrails.models import Guardrail
from guardrails.services import GUARDRAIL_TRIPPED
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


async def turn(user, conversation: Conversation, content: str) -> dict:
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    return frames[-1]


async def trips() -> list[AuditEntry]:
    return [entry async for entry in AuditEntry.objects.filter(action=GUARDRAIL_TRIPPED).select_related("user")]


async def test_it_records_a_tripped_input_guardrail_without_the_text(alice, conversation, helper):
    guardrail = await Guardrail.objects.acreate(assistant=helper, name="PII", kind="pii", pii_types=["card"])
    ended = await turn(alice, conversation, "my card is 4111 1111 1111 1111, keep it")
    assert ended["data"]["last_error"]["code"] == "guardrail_tripped"

    [entry] = await trips()
    run = await Run.objects.aget(conversation=conversation)
    assert (entry.user, entry.username, entry.target_type, entry.target_id, entry.target) == (
        alice, "alice", "guardrail", str(guardrail.pk), "PII",
    )  # fmt: skip
    assert entry.details == {
        "guardrail": guardrail.pk,
        "kind": "pii",
        "stage": "input",
        "assistant": helper.pk,
        "run": run.pk,
        "thread": conversation.pk,
        "reason": "it contains a payment card number.",
        "outcome": "refused",
    }
    assert "4111" not in json.dumps(entry.details) and "keep it" not in json.dumps(entry.details)


async def test_it_records_a_withheld_answer_and_a_refused_tool_call(alice, conversation, helper, demo_server):
    await helper.mcp_servers.aadd(demo_server)
    await Guardrail.objects.acreate(
        assistant=helper, name="No self-talk", kind="blocklist", stage="output", words=["offline model"]
    )
    await Guardrail.objects.acreate(assistant=helper, name="Small sums", kind="max_length", stage="tool", max_chars=20)
    await turn(alice, conversation, "hello")
    await turn(alice, conversation, '/add {"a": 1234567, "b": 7654321}')

    output, tool = sorted(await trips(), key=lambda entry: entry.pk)
    assert (output.target, output.details["stage"], output.details["kind"]) == ("No self-talk", "output", "blocklist")
    assert output.details["reason"] == "it contains the blocked word “offline model”."
    assert (tool.target, tool.details["stage"], tool.details["tool"]) == ("Small sums", "tool", "add")
    assert "1234567" not in json.dumps(tool.details)


async def test_it_records_nothing_for_a_run_the_guardrails_pass(alice, conversation, helper):
    await Guardrail.objects.acreate(assistant=helper, name="PII", kind="pii", pii_types=["card"])
    ended = await turn(alice, conversation, "no numbers here")
    assert ended["event"] == "thread.run.completed"
    assert await trips() == []
