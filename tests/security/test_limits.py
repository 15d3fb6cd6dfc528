"""Fairness and size limits over the `/v1/` API: a clear refusal (Retry-After where waiting helps), nothing changed."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from chat.executor import get_executor
from chat.models import Conversation, Message, Run
from mcp_servers.config_io import MAX_BYTES
from mcp_servers.models import MCPServer
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db(transaction=True)


def _limit(settings, **values) -> None:
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, **values}


@pytest.fixture
def thread(alice, demo_assistant) -> Conversation:
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


def _assert_retry_after(response) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_it_answers_429_with_retry_after_past_the_api_rate_limit(settings, alice_api):
    _limit(settings, RATE_API_PER_MINUTE=3)
    for _ in range(3):
        assert alice_api.get("assistants").status_code == 200

    response = alice_api.get("assistants")

    _assert_retry_after(response)
    error = error_of(response)
    assert error["code"] == "rate_limit_exceeded"
    assert "3 a minute" in error["message"]


def test_it_changes_nothing_for_a_request_refused_by_the_api_rate_limit(settings, alice, alice_api):
    _limit(settings, RATE_API_PER_MINUTE=1)
    assert alice_api.post("threads", {}).status_code == 200

    response = alice_api.post("threads", {"metadata": {"second": "yes"}})

    _assert_retry_after(response)
    assert Conversation.objects.filter(owner=alice).count() == 1


def test_it_counts_the_api_rate_limit_per_user(settings, alice_api, bob_api):
    _limit(settings, RATE_API_PER_MINUTE=1)
    alice_api.get("assistants")
    assert alice_api.get("assistants").status_code == 429
    assert bob_api.get("assistants").status_code == 200


def test_it_answers_429_with_retry_after_past_the_message_rate_limit(settings, alice_api, thread):
    _limit(settings, RATE_MESSAGES_PER_MINUTE=1)
    assert alice_api.post(f"threads/{thread.pk}/messages", {"role": "user", "content": "one"}).status_code == 200

    response = alice_api.post(f"threads/{thread.pk}/messages", {"role": "user", "content": "two"})

    _assert_retry_after(response)
    assert error_of(response)["code"] == "rate_limited"
    assert list(Message.objects.filter(conversation=thread).values_list("content", flat=True)) == ["one"]


async def test_it_answers_429_when_the_user_has_too_many_runs(settings, alice, alice_async, demo_assistant):
    _limit(settings, RUNS_CONCURRENT_PER_USER=1)
    busy, other = [await Conversation.objects.acreate(owner=alice, assistant=demo_assistant) for _ in range(2)]
    for thread in (busy, other):
        await Message.objects.acreate(conversation=thread, role="user", content='/wait {"seconds": 30}')
    first = await alice_async.post(f"threads/{busy.pk}/runs", {"assistant_id": demo_assistant.pk})
    assert first.status_code == 200

    response = await alice_async.post(f"threads/{other.pk}/runs", {"assistant_id": demo_assistant.pk})

    assert response.status_code == 429
    assert response["Retry-After"]
    assert error_of(response)["code"] == "too_many_runs"
    assert not await Run.objects.filter(conversation=other).aexists()
    await alice_async.post(f"threads/{busy.pk}/runs/{first.json()['id']}/cancel")
    async with asyncio.timeout(20):
        while (await Run.objects.aget(pk=first.json()["id"])).is_active:
            await asyncio.sleep(0.05)


async def test_it_answers_503_while_the_server_shuts_down(alice_async, thread, demo_assistant):
    await Message.objects.acreate(conversation=thread, role="user", content="hello")
    executor = get_executor()
    executor.accepting = False
    try:
        response = await alice_async.post(f"threads/{thread.pk}/runs", {"assistant_id": demo_assistant.pk})
    finally:
        executor.accepting = True

    assert response.status_code == 503
    assert response["Retry-After"]
    assert error_of(response)["code"] == "shutting_down"
    assert not await Run.objects.filter(conversation=thread).aexists()


# --- Size limits not covered elsewhere (frames and bodies: tests/chat/test_consumer.py, tests/api) ------------------


def test_it_refuses_an_api_message_over_the_content_limit(alice_api, thread):
    limit = django_settings.SWITCHBOARD["MESSAGE_MAX_CHARS"]
    response = alice_api.post(f"threads/{thread.pk}/messages", {"role": "user", "content": "x" * (limit + 1)})

    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("content_too_long", "content")
    assert str(limit) in error["message"]
    assert not Message.objects.filter(conversation=thread).exists()


@pytest.mark.parametrize(
    ("metadata", "what"),
    [
        ({"k" * 65: "v"}, "keys"),
        ({"k": "v" * 513}, "values"),
        ({f"k{i}": "v" for i in range(17)}, "16"),
    ],
)
def test_it_refuses_metadata_over_its_limits_on_every_object(alice_api, thread, metadata, what):
    message = alice_api.post(f"threads/{thread.pk}/messages", {"role": "user", "content": "hi"}).json()
    for path in ("threads", f"threads/{thread.pk}", f"threads/{thread.pk}/messages/{message['id']}", "assistants"):
        body = {"metadata": metadata}
        if path == "assistants":
            body |= {"model": "offline", "name": "big"}
        response = alice_api.post(path, body)
        assert response.status_code == 400, path
        error = error_of(response)
        assert error["param"] == "metadata" and what in error["message"], (path, error)
    thread.refresh_from_db()
    assert thread.metadata == {}
    assert Message.objects.get(pk=message["id"]).metadata == {}
    assert Conversation.objects.count() == 1


def test_it_refuses_an_mcp_servers_file_over_its_size_limit(tmp_path):
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"big": {"command": "echo", "args": ["x" * MAX_BYTES]}}}))

    with pytest.raises(CommandError) as caught:
        call_command("import_mcp_servers", str(path))

    assert "limit" in str(caught.value) and "Nothing was changed" in str(caught.value)
    assert not MCPServer.objects.exists()
