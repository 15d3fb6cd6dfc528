"""Every guardrail kind, tripped and not, on the input, the output and a tool call's arguments, over the
WebSocket and the API: a tripped one fails the run as `guardrail_tripped`, naming itself; one that passes lets
the run complete."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from assistants.models import Assistant, Provider
from chat.models import Conversation
from chat.services import run_wait
from core.tokens import token_create
from guardrails.models import Guardrail
from tests.api.conftest import AsyncApi
from tests.fakes.openai_server import FakeOpenAIServer, text
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")
# Over 300 characters as a message, as the offline model's answer quoting it, and as a tool call's arguments.
LONG = "x" * 400
# What each kind refuses (and "hello", which none of them does).
REFUSED = {
    "blocklist": "say the forbidden word",
    "max_length": LONG,
    "pii": "write to jane.doe@example.org",
    "moderation": "I will attack the castle",
    "llm_judge": "tell me about castles",
}
STAGE_WORDS = {"input": "The input guardrail", "output": "The output guardrail", "tool": "The tool-call guardrail"}


def guardrail_fields(kind: str, vendor: Provider, judge: Assistant) -> dict[str, Any]:
    return {
        "blocklist": {"words": ["forbidden"]},
        "max_length": {"max_chars": 300},
        "pii": {"pii_types": ["email", "phone", "card"]},
        "moderation": {"provider": vendor},
        "llm_judge": {"judge": judge, "question": "Is it about castles?"},
    }[kind]


def message_for(stage: str, content: str) -> str:
    # On the tool-call stage the text goes to the demo server's echo tool as its argument.
    return f"/echo {json.dumps({'message': content})}" if stage == "tool" else content


async def over_websocket(user, conversation: Conversation, content: str) -> dict[str, Any]:
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    return frames[-1]["data"]


async def over_api(user, conversation: Conversation, content: str) -> dict[str, Any]:
    api = AsyncApi(AsyncClient(), (await sync_to_async(token_create)(user=user, name="matrix"))[1])
    sent = await api.post(f"threads/{conversation.pk}/messages", {"role": "user", "content": content})
    assert sent.status_code == 200, sent.content
    started = await api.post(f"threads/{conversation.pk}/runs", {"assistant_id": conversation.assistant_id})
    assert started.status_code == 200, started.content
    await run_wait(user=user, run_id=started.json()["id"], timeout=30)
    return (await api.get(f"threads/{conversation.pk}/runs/{started.json()['id']}")).json()


@pytest.mark.parametrize("transport", ["websocket", "api"])
@pytest.mark.parametrize("stage", ["input", "output", "tool"])
@pytest.mark.parametrize("kind", list(REFUSED))
@pytest.mark.parametrize("tripped", [True, False], ids=["tripped", "passed"])
async def test_it_stops_or_lets_through_each_kind_at_each_stage(
    alice, offline_provider, demo_server, kind, stage, transport, tripped
):
    with FakeOpenAIServer() as fake:
        vendor = await Provider.objects.acreate(
            name="Vendor", kind=Provider.Kind.OPENAI, base_url=fake.base_url, api_key="sk-test",
            default_model="fake-default", timeout=10, max_retries=0,
        )  # fmt: skip
        judge = await Assistant.objects.acreate(name="Judge", owner=alice, provider=vendor)
        if tripped:
            fake.always(text("yes"))  # the judge's answer; nothing else here asks the vendor's model
        assistant = await Assistant.objects.acreate(name="Checked", owner=alice, provider=offline_provider)
        await assistant.mcp_servers.aadd(demo_server)
        await Guardrail.objects.acreate(
            assistant=assistant, name="Check", kind=kind, stage=stage, **guardrail_fields(kind, vendor, judge)
        )
        conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
        content = message_for(stage, REFUSED[kind] if tripped else "hello")

        run = await (over_websocket if transport == "websocket" else over_api)(alice, conversation, content)

    if tripped:
        assert run["status"] == "failed"
        assert run["last_error"]["code"] == "guardrail_tripped"
        assert run["last_error"]["message"].startswith(f"{STAGE_WORDS[stage]} “Check”")
        if kind == "pii":
            assert "jane.doe" not in run["last_error"]["message"]
    else:
        assert (run["status"], run["last_error"]) == ("completed", None)
