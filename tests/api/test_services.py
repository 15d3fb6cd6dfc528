"""The thread, message and run services the API and Switchboard's MCP server call."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from chat.models import Conversation, Message, Run
from chat.services import (
    conversation_create,
    conversation_delete,
    conversation_update,
    message_create,
    message_update,
    metadata_validate,
    run_create,
    run_store,
    run_update,
    run_wait,
)
from core.errors import ServiceError

pytestmark = pytest.mark.django_db


def test_it_accepts_metadata_within_openai_limits():
    value = {f"k{i}": "v" * 512 for i in range(16)}
    assert metadata_validate(value) == value
    assert metadata_validate(None) == {}


@pytest.mark.parametrize(
    "value",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {"k": 1},
        ["k", "v"],
    ],
)
def test_it_rejects_metadata_outside_openai_limits(value):
    with pytest.raises(ServiceError) as caught:
        metadata_validate(value)
    assert (caught.value.code, caught.value.param) == ("invalid_metadata", "metadata")


def test_it_creates_a_thread_with_initial_messages(alice, demo_assistant):
    thread = conversation_create(
        user=alice,
        assistant_id=demo_assistant.pk,
        metadata={"a": "b"},
        messages=[{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "hi", "metadata": {}}],
    )
    assert thread.assistant == demo_assistant and thread.metadata == {"a": "b"} and thread.title == "hello there"
    messages = [(m.role, m.content) for m in thread.messages.order_by("id")]
    assert messages == [("user", "hello there"), ("assistant", "hi")]


def test_it_names_the_bad_initial_message(alice):
    with pytest.raises(ServiceError) as caught:
        conversation_create(
            user=alice, messages=[{"role": "user", "content": "ok"}, {"role": "system", "content": "x"}]
        )
    assert caught.value.param == "messages[1].role"
    assert not Conversation.objects.exists()


def test_it_refuses_another_users_assistant_for_a_thread(alice, bob, offline_provider):
    from assistants.models import Assistant

    private = Assistant.objects.create(name="Bob's", owner=bob, provider=offline_provider)
    with pytest.raises(ServiceError) as caught:
        conversation_create(user=alice, assistant_id=private.pk)
    assert (caught.value.code, caught.value.param) == ("assistant_not_found", "assistant_id")


def test_it_updates_and_deletes_only_the_owners_thread(alice, bob):
    thread = conversation_create(user=alice)
    with pytest.raises(ServiceError):
        conversation_update(user=bob, conversation_id=thread.pk, metadata={"x": "y"})
    with pytest.raises(ServiceError):
        conversation_delete(user=bob, conversation_id=thread.pk)
    assert conversation_update(user=alice, conversation_id=thread.pk, metadata={"x": "y"}).metadata == {"x": "y"}
    conversation_delete(user=alice, conversation_id=thread.pk)
    assert not Conversation.objects.exists()


def test_it_adds_a_message_without_starting_a_run(alice):
    thread = conversation_create(user=alice)
    message, _ = async_to_sync(message_create)(
        user=alice, conversation_id=thread.pk, content="note", metadata={"k": "v"}
    )
    assert (message.role, message.content, message.metadata, message.run_id) == ("user", "note", {"k": "v"}, None)
    assert not Run.objects.exists()
    assert message_update(user=alice, message_id=message.pk, conversation_id=thread.pk, metadata={}).metadata == {}


def test_it_refuses_a_message_and_a_second_run_while_a_run_is_active(alice, demo_assistant):
    thread = conversation_create(user=alice)
    run, _ = run_store(user=alice, conversation_id=thread.pk, assistant_id=demo_assistant.pk)
    thread.refresh_from_db()
    assert thread.assistant == demo_assistant and run.status == Run.Status.QUEUED
    for attempt in (
        lambda: async_to_sync(message_create)(user=alice, conversation_id=thread.pk, content="more"),
        lambda: run_store(user=alice, conversation_id=thread.pk, assistant_id=demo_assistant.pk),
        lambda: conversation_delete(user=alice, conversation_id=thread.pk),
    ):
        with pytest.raises(ServiceError) as caught:
            attempt()
        assert caught.value.code == "run_active"


def test_it_snapshots_instructions_with_additions(alice, demo_assistant):
    thread = conversation_create(user=alice)
    run, _ = run_store(
        user=alice, conversation_id=thread.pk, assistant_id=demo_assistant.pk, additional_instructions="Rhyme."
    )
    assert run.instructions == "Be brief.\n\nRhyme."


def test_it_keeps_the_paused_tool_calls_when_run_metadata_changes(alice, demo_assistant):
    thread = conversation_create(user=alice)
    run, _ = run_store(user=alice, conversation_id=thread.pk, assistant_id=demo_assistant.pk)
    Run.objects.filter(pk=run.pk).update(metadata={"required_action": {"type": "submit_tool_outputs"}})
    run = run_update(user=alice, run_id=run.pk, conversation_id=thread.pk, metadata={"k": "v"})
    assert run.metadata == {"k": "v", "required_action": {"type": "submit_tool_outputs"}}


@pytest.mark.django_db(transaction=True)
async def test_it_runs_a_thread_and_waits_for_the_answer(alice, demo_assistant):
    from asgiref.sync import sync_to_async

    thread = await sync_to_async(conversation_create)(user=alice, messages=[{"role": "user", "content": "ping"}])
    run = await run_create(user=alice, conversation_id=thread.pk, assistant_id=demo_assistant.pk)
    run = await run_wait(user=alice, run_id=run.pk, timeout=30)
    assert run.status == Run.Status.COMPLETED
    answer = await Message.objects.filter(conversation=thread, role="assistant").aget()
    assert "ping" in answer.content
