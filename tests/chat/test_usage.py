"""Usage and cost: every run and step is priced at its provider's price, and kept for accounting; monthly budgets
refuse a run before the model is called, on every interface, at exactly the limit."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from assistants.models import ModelPrice, Provider
from chat.models import Conversation, Message, Quota, Run, RunStep, Usage
from chat.services.quotas import quota_limits
from core.metrics import metrics_exposition
from core.tokens import token_create
from tests.fakes.openai_server import FakeOpenAIServer, auto, text, tool_call
from tests.fakes.openai_server import Usage as FakeUsage
from tests.observability.conftest import metric_value
from tests.ws import collect_until, receive, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def vendor(demo_assistant, fake) -> Provider:
    provider = demo_assistant.provider
    provider.name = f"Vendor {secrets.token_hex(4)}"  # its own metric series, whatever else runs at once
    provider.kind, provider.api_style = Provider.Kind.OPENAI, Provider.ApiStyle.RESPONSES
    provider.base_url, provider.api_key, provider.default_model = fake.base_url, "sk-test", "fake-default"
    provider.timeout, provider.max_retries = 10, 0
    provider.save()
    return provider


@pytest.fixture
def conversation(alice, demo_assistant) -> Conversation:
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


async def turn(user, conversation: Conversation, content: str) -> list[dict]:
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    return frames


async def test_it_prices_each_step_and_the_run_at_the_models_price(alice, conversation, vendor, fake):
    await ModelPrice.objects.acreate(
        provider=vendor, model="fake-default", input_per_million=Decimal("2.5"), output_per_million=Decimal("10")
    )
    await ModelPrice.objects.acreate(  # the any-model price loses to the model's own
        provider=vendor, model="", input_per_million=Decimal("999"), output_per_million=Decimal("999")
    )
    fake.script(
        tool_call("add", '{"a": 1, "b": 2}', usage=FakeUsage(1200, 30)),
        text("It is 3.", usage=FakeUsage(1500, 400)),
    )
    frames = await turn(alice, conversation, "add one and two")
    assert frames[-1]["event"] == "thread.run.completed"

    run = await Run.objects.aget(conversation=conversation)
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (2700, 430, 3130)
    # 2,700 × 2.5 / 1M + 430 × 10 / 1M
    assert run.cost == Decimal("0.011050")
    assert run.provider_id == vendor.pk
    steps = [step async for step in RunStep.objects.filter(run=run).order_by("id")]
    assert [step.cost for step in steps] == [Decimal("0.003300"), Decimal("0.007750")]
    usage = await Usage.objects.aget(run_id=run.pk)
    assert (usage.user_id, usage.total_tokens, usage.cost, usage.tool_calls) == (alice.pk, 3130, run.cost, 1)
    assert (usage.provider_name, usage.model, usage.status) == (vendor.name, "fake-default", "completed")
    exposition = metrics_exposition(settings.METRICS_DIR).decode()
    assert metric_value(exposition, "switchboard_cost_total", provider=vendor.name, model="fake-default") == 0.01105


async def test_it_uses_the_providers_any_model_price_and_costs_nothing_unpriced(alice, conversation, vendor, fake):
    fake.always(auto(usage=FakeUsage(1_000_000, 0)))
    await turn(alice, conversation, "hello")
    unpriced = await Run.objects.aget(conversation=conversation)
    assert (unpriced.total_tokens, unpriced.cost) == (1_000_000, 0)

    await ModelPrice.objects.acreate(provider=vendor, model="", input_per_million=3, output_per_million=0)
    await turn(alice, conversation, "again")
    priced = await Run.objects.filter(conversation=conversation).order_by("-id").afirst()
    assert priced.cost == Decimal("3")


async def test_it_keeps_a_failed_runs_usage(alice, conversation, vendor, fake):
    from tests.fakes.openai_server import cut

    fake.script(cut(after_deltas=2))
    frames = await turn(alice, conversation, "hello")
    assert frames[-1]["event"] == "thread.run.failed"
    run = await Run.objects.aget(conversation=conversation)
    assert await Usage.objects.filter(run_id=run.pk, status="failed").aexists()


async def test_it_keeps_usage_after_the_conversation_is_deleted(alice, conversation):
    await turn(alice, conversation, "hello")
    run = await Run.objects.aget(conversation=conversation)
    assert run.total_tokens > 0
    await conversation.adelete()
    usage = await Usage.objects.aget(run_id=run.pk)
    assert usage.total_tokens == run.total_tokens
    assert usage.assistant_name == "Demo assistant"


# Budgets


def used(user, tokens: int, cost: str = "0") -> None:
    Usage.objects.create(user=user, run_id="run_earlier", thread_id="thread_x", total_tokens=tokens, cost=Decimal(cost))


async def test_it_refuses_a_message_over_the_websocket_once_the_budget_is_used(alice, conversation):
    await Quota.objects.acreate(user=alice, monthly_tokens=1000)
    await sync_to_async(used)(alice, 1000)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "hello"})
    frame = await receive(ws)
    await ws.disconnect()
    assert frame["event"] == "error"
    assert frame["data"]["code"] == "insufficient_quota"
    assert "1,000 of 1,000 tokens" in frame["data"]["message"]
    # Nothing stored, no run: the model was never called, and the page keeps the text in its composer.
    assert not await Message.objects.filter(conversation=conversation).aexists()
    assert not await Run.objects.filter(conversation=conversation).aexists()


async def test_it_answers_one_token_under_the_budget(alice, conversation):
    await Quota.objects.acreate(user=alice, monthly_tokens=1000)
    await sync_to_async(used)(alice, 999)
    frames = await turn(alice, conversation, "hello")
    assert frames[-1]["event"] == "thread.run.completed"


def test_it_refuses_runs_on_the_api_with_429_and_the_limit_exactly(alice, demo_assistant):
    Quota.objects.create(user=alice, monthly_cost=Decimal("1.50"))
    client = Client()
    headers = {"Authorization": f"Bearer {token_create(user=alice, name='t')[1]}"}
    thread = client.post("/v1/threads", "{}", content_type="application/json", headers=headers).json()
    body = json.dumps({"assistant_id": demo_assistant.pk})

    used(alice, 10, "1.499999")
    within = client.post(f"/v1/threads/{thread['id']}/runs", body, content_type="application/json", headers=headers)
    assert within.status_code == 200, within.content
    Run.objects.filter(pk=within.json()["id"]).update(status=Run.Status.COMPLETED)

    used(alice, 10, "0.000001")
    over = client.post(f"/v1/threads/{thread['id']}/runs", body, content_type="application/json", headers=headers)
    assert over.status_code == 429
    error = over.json()["error"]
    assert error["code"] == "insufficient_quota"
    assert "1.50 of 1.50 in cost" in error["message"]
    assert int(over["Retry-After"]) > 0
    assert Run.objects.filter(conversation_id=thread["id"]).count() == 1
    # Also with initial messages: the messages are not stored either.
    create = json.dumps(
        {"assistant_id": demo_assistant.pk, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    )
    refused = client.post("/v1/threads/runs", create, content_type="application/json", headers=headers)
    assert refused.status_code == 429
    assert not Message.objects.filter(conversation__owner=alice, content="hi").exists()


def test_it_takes_the_users_budget_over_their_groups_and_the_most_generous_group(alice, bob):
    staff, interns = Group.objects.create(name="staff"), Group.objects.create(name="interns")
    alice.groups.add(staff, interns)
    Quota.objects.create(monthly_tokens=100)  # everyone
    Quota.objects.create(group=staff, monthly_tokens=5000)
    Quota.objects.create(group=interns, monthly_tokens=2000, monthly_cost=Decimal("5"))
    limits = quota_limits(alice)
    assert (limits.tokens, limits.cost) == (5000, None)  # staff has no cost limit: none wins
    assert quota_limits(bob).tokens == 100
    Quota.objects.create(user=alice, monthly_tokens=10)
    assert quota_limits(alice).tokens == 10


def test_it_counts_only_this_month(alice, conversation):
    from datetime import timedelta

    from django.utils import timezone

    from chat.services.quotas import budget_check, month_bounds

    Quota.objects.create(user=alice, monthly_tokens=100)
    start, _ = month_bounds()
    Usage.objects.create(
        user=alice, run_id="run_old", thread_id="t", total_tokens=500, created_at=start - timedelta(seconds=1)
    )
    budget_check(alice, quota_limits(alice))  # last month's 500 do not count
    Usage.objects.create(user=alice, run_id="run_new", thread_id="t", total_tokens=100, created_at=timezone.now())
    with pytest.raises(Exception, match="monthly budget"):
        budget_check(alice, quota_limits(alice))


def test_a_second_budget_for_everyone_is_refused():
    from django.core.exceptions import ValidationError

    Quota.objects.create(monthly_tokens=1)
    with pytest.raises(ValidationError):
        Quota(monthly_tokens=2).full_clean()


# Rates per group


def _post_messages(user, count: int) -> list[int]:
    client = Client()
    headers = {"Authorization": f"Bearer {token_create(user=user, name='t')[1]}"}
    thread = client.post("/v1/threads", "{}", content_type="application/json", headers=headers).json()
    body = json.dumps({"role": "user", "content": "hi"})
    url = f"/v1/threads/{thread['id']}/messages"
    return [client.post(url, body, content_type="application/json", headers=headers).status_code for _ in range(count)]


def test_a_groups_quota_sets_its_members_message_rate(alice, bob, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "RATE_MESSAGES_PER_MINUTE": 2}
    team = Group.objects.create(name="power users")
    alice.groups.add(team)
    Quota.objects.create(group=team, messages_per_minute=4)
    assert _post_messages(alice, 5) == [200, 200, 200, 200, 429]
    assert _post_messages(bob, 3) == [200, 200, 429]  # the site's rate


def test_a_users_quota_bounds_their_runs_at_once(alice, demo_assistant, settings):
    from chat.services import run_store

    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "RUNS_CONCURRENT_PER_USER": 5}
    Quota.objects.create(user=alice, concurrent_runs=1)
    first = Conversation.objects.create(owner=alice, assistant=demo_assistant)
    second = Conversation.objects.create(owner=alice, assistant=demo_assistant)
    run_store(user=alice, conversation_id=first.pk, assistant_id=demo_assistant.pk)  # stays queued: active
    with pytest.raises(Exception, match="1 answers in progress") as refused:
        run_store(user=alice, conversation_id=second.pk, assistant_id=demo_assistant.pk)
    assert refused.value.code == "too_many_runs"
