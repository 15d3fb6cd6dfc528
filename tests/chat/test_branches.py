"""Edit and branch, answers kept as alternatives, another assistant mid-conversation: services and the socket."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client
from django.utils import timezone

from assistants.models import Assistant, Provider
from chat import services
from chat.exports import conversation_export_markdown
from chat.models import Conversation, Message
from chat.selectors import conversation_branch, conversation_model_input
from chat.timeline import conversation_state
from core.errors import ServiceError
from core.tokens import token_create
from tests.fakes.openai_server import FakeOpenAIServer
from tests.ws import collect_until, receive, ws_connect

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled")


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Branches")


async def _turn(ws, content: str) -> list[dict]:
    await ws.send_json_to({"type": "message.create", "content": content})
    return await collect_until(ws, *TERMINAL)


async def _snapshot(ws) -> list[tuple[str, str]]:
    """(role, text) of each message the page shows."""
    await ws.send_json_to({"type": "thread.snapshot"})
    timeline = (await receive(ws))["data"]["timeline"]
    return [
        (entry["data"]["role"], entry["data"]["content"][0]["text"]["value"])
        for entry in timeline
        if entry["kind"] == "message"
    ]


def _model_texts(conversation_id: str) -> list[str]:
    return [item["content"] for item in conversation_model_input(conversation_id=conversation_id) if "role" in item]


@pytest.mark.django_db(transaction=True)
async def test_it_keeps_the_old_exchange_as_a_branch_when_a_message_is_edited(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await _turn(ws, "first question")
    await _turn(ws, "second question")
    second = await Message.objects.aget(conversation=conversation, content="second question")

    await ws.send_json_to({"type": "message.edit", "message_id": second.pk, "content": "second, edited"})
    frames = await collect_until(ws, *TERMINAL)

    assert frames[0]["event"] == "thread.branch.changed"
    assert frames[-1]["event"] == "thread.run.completed"
    shown = await _snapshot(ws)
    assert [text for role, text in shown if role == "user"] == ["first question", "second, edited"]
    assert "second, edited" in shown[-1][1] and "second question" not in shown[-1][1]
    # Nothing was deleted: the old question and its answer are the other branch.
    assert await Message.objects.filter(conversation=conversation).acount() == 6
    edited = await Message.objects.aget(conversation=conversation, content="second, edited")
    assert edited.edited_from_id == second.pk and edited.parent_id == second.parent_id
    # The model's next input is the branch shown, and only it.
    texts = await sync_to_async(_model_texts)(conversation.pk)
    assert "second question" not in texts and "second, edited" in texts and len(texts) == 4
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_switches_back_to_the_first_version_and_remembers_it(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await _turn(ws, "original")
    original = await Message.objects.aget(conversation=conversation, content="original")
    await ws.send_json_to({"type": "message.edit", "message_id": original.pk, "content": "edited"})
    await collect_until(ws, *TERMINAL)

    await ws.send_json_to({"type": "branch.select", "message_id": original.pk})
    changed = await receive(ws)

    assert changed["event"] == "thread.branch.changed" and changed["data"]["message_id"] == original.pk
    shown = await _snapshot(ws)
    assert shown[0] == ("user", "original") and len(shown) == 2 and "original" in shown[1][1]
    # Stored: a reload (a new page state) shows the same branch, with its place among the versions.
    conversation = await Conversation.objects.aget(pk=conversation.pk)
    assert conversation.current_id == original.pk
    state = await sync_to_async(conversation_state)(conversation=conversation)
    first = state["entries"][0]
    assert first["item"]["id"] == original.pk and first["versions"]["index"] == 1 and first["versions"]["count"] == 2
    assert await sync_to_async(_model_texts)(conversation.pk) == ["original", shown[1][1]]
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_answers_the_branch_shown_after_a_switch(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await _turn(ws, "left")
    left = await Message.objects.aget(conversation=conversation, content="left")
    await ws.send_json_to({"type": "message.edit", "message_id": left.pk, "content": "right"})
    await collect_until(ws, *TERMINAL)
    await ws.send_json_to({"type": "branch.select", "message_id": left.pk})
    await receive(ws)

    await _turn(ws, "after left")

    after = await Message.objects.aget(conversation=conversation, content="after left")
    left_answer = await Message.objects.aget(parent=left)
    assert after.parent_id == left_answer.pk
    assert [role for role, _ in await _snapshot(ws)] == ["user", "assistant", "user", "assistant"]
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_keeps_the_previous_answer_when_regenerating(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await _turn(ws, "answer twice")
    first = await Message.objects.aget(conversation=conversation, role="assistant")

    await ws.send_json_to({"type": "message.regenerate"})
    await collect_until(ws, *TERMINAL)

    answers = [m async for m in Message.objects.filter(conversation=conversation, role="assistant")]
    assert len(answers) == 2 and answers[0].pk == first.pk
    conversation = await Conversation.objects.aget(pk=conversation.pk)
    state = await sync_to_async(conversation_state)(conversation=conversation)
    last = state["entries"][-1]
    assert last["item"]["id"] == answers[1].pk and (last["versions"]["index"], last["versions"]["count"]) == (2, 2)
    assert last["versions"]["previous"] == first.pk

    await ws.send_json_to({"type": "branch.select", "message_id": first.pk})
    await receive(ws)
    conversation = await Conversation.objects.aget(pk=conversation.pk)
    state = await sync_to_async(conversation_state)(conversation=conversation)
    assert [e["item"]["id"] for e in state["entries"] if e["kind"] == "message"][-1] == first.pk
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_to_edit_or_switch_while_a_run_is_active(alice, conversation):
    question = await Message.objects.acreate(conversation=conversation, role="user", content="hi")
    await conversation.runs.acreate(assistant=conversation.assistant, status="in_progress", heartbeat_at=timezone.now())
    ws = await ws_connect(conversation.pk, alice)

    await ws.send_json_to({"type": "message.edit", "message_id": question.pk, "content": "changed"})
    assert (await receive(ws))["data"]["code"] == "run_active"
    await ws.send_json_to({"type": "branch.select", "message_id": question.pk})
    assert (await receive(ws))["data"]["code"] == "run_active"

    assert await Message.objects.filter(conversation=conversation).acount() == 1
    assert (await Conversation.objects.aget(pk=conversation.pk)).current_id is None
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_another_users_message(alice, bob, conversation, demo_assistant):
    theirs = await Conversation.objects.acreate(owner=bob, assistant=demo_assistant)
    secret = await Message.objects.acreate(conversation=theirs, role="user", content="bob's secret")
    ws = await ws_connect(conversation.pk, alice)

    await ws.send_json_to({"type": "message.edit", "message_id": secret.pk, "content": "mine now"})
    edit = await receive(ws)
    await ws.send_json_to({"type": "branch.select", "message_id": secret.pk})
    select = await receive(ws)

    assert edit["data"]["code"] == select["data"]["code"] == "not_found"
    assert "secret" not in edit["data"]["message"]
    assert await Message.objects.filter(content="mine now").acount() == 0
    assert (await Conversation.objects.aget(pk=theirs.pk)).current_id is None
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_to_edit_an_answer_or_send_bad_content(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await _turn(ws, "question")
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    question = await Message.objects.aget(conversation=conversation, role="user")

    await ws.send_json_to({"type": "message.edit", "message_id": answer.pk, "content": "rewritten"})
    assert (await receive(ws))["data"]["code"] == "invalid_message"
    await ws.send_json_to({"type": "message.edit", "message_id": question.pk, "content": "   "})
    assert (await receive(ws))["data"]["code"] == "invalid_content"
    await ws.send_json_to({"type": "message.edit", "message_id": question.pk})
    assert (await receive(ws))["data"]["code"] == "invalid_content"
    await ws.send_json_to({"type": "branch.select", "message_id": 12})
    assert (await receive(ws))["data"]["code"] == "invalid_id"

    assert await Message.objects.filter(conversation=conversation).acount() == 2
    await ws.disconnect()


@pytest.mark.django_db
def test_it_lists_the_branch_shown_in_the_api(alice, conversation):
    first = Message.objects.create(conversation=conversation, role="user", content="one")
    Message.objects.create(conversation=conversation, role="assistant", content="answer one", parent=first)
    other = Message.objects.create(conversation=conversation, role="user", content="two", edited_from=first)
    conversation.current = other
    conversation.save()
    token = token_create(user=alice, name="test")[1]
    client = Client(headers={"authorization": f"Bearer {token}", "openai-beta": "assistants=v2"})

    listed = client.get(f"/v1/threads/{conversation.pk}/messages?order=asc").json()

    assert [m["id"] for m in listed["data"]] == [other.pk]
    conversation.current = first
    conversation.save()
    listed = client.get(f"/v1/threads/{conversation.pk}/messages?order=asc").json()
    assert [m["content"][0]["text"]["value"] for m in listed["data"]] == ["one", "answer one"]


@pytest.mark.django_db
def test_it_reads_history_stored_before_branches_as_one_line(conversation):
    """Messages without a parent (stored before branches) follow the one before them."""
    run = conversation.runs.create(assistant=conversation.assistant, status="failed", last_error="It broke.")
    ids = [
        Message.objects.create(conversation=conversation, role=role, content=role).pk
        for role in ("user", "assistant", "user")
    ]
    Message.objects.filter(pk=ids[2]).update(run=run)

    branch = conversation_branch(conversation_id=conversation.pk)

    assert branch.messages == ids and branch.versions == {}
    assert run.pk in branch.runs  # the last question's failed run, with its note


@pytest.mark.django_db
def test_it_keeps_a_branch_whole_when_a_message_in_it_is_deleted(alice, conversation):
    first = Message.objects.create(conversation=conversation, role="user", content="one")
    middle = Message.objects.create(conversation=conversation, role="assistant", content="two", parent=first)
    last = Message.objects.create(conversation=conversation, role="user", content="three", parent=middle)
    conversation.current = last
    conversation.save()

    async_to_sync(services.message_delete)(user=alice, conversation_id=conversation.pk, message_id=middle.pk)

    assert conversation_branch(conversation_id=conversation.pk).messages == [first.pk, last.pk]


# --- Another assistant within a conversation ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_it_answers_with_the_assistant_switched_to(alice, conversation, offline_provider):
    other = await Assistant.objects.acreate(name="Second opinion", provider=offline_provider, owner=alice)
    ws = await ws_connect(conversation.pk, alice)
    await _turn(ws, "one")

    await sync_to_async(services.conversation_assistant_switch)(
        user=alice, conversation_id=conversation.pk, assistant_id=other.pk
    )
    frames = await _turn(ws, "two")

    assert frames[-1]["data"]["assistant_id"] == other.pk
    answers = [m async for m in Message.objects.filter(conversation=conversation, role="assistant")]
    assert [a.assistant_id for a in answers] == [conversation.assistant_id, other.pk]
    await ws.disconnect()


@pytest.mark.django_db
def test_it_switches_only_to_an_assistant_the_user_may_use(alice, bob, conversation, offline_provider):
    private = Assistant.objects.create(name="Bob's own", provider=offline_provider, owner=bob)

    with pytest.raises(ServiceError) as refused:
        services.conversation_assistant_switch(user=alice, conversation_id=conversation.pk, assistant_id=private.pk)

    assert refused.value.code == "assistant_not_found"
    assert Conversation.objects.get(pk=conversation.pk).assistant_id == conversation.assistant_id
    with pytest.raises(ServiceError) as hidden:
        services.conversation_assistant_switch(user=bob, conversation_id=conversation.pk, assistant_id=private.pk)
    assert hidden.value.code == "not_found"


@pytest.mark.django_db
def test_it_refuses_to_switch_the_assistant_while_a_run_is_active(alice, conversation, offline_provider):
    other = Assistant.objects.create(name="Second", provider=offline_provider, owner=alice)
    conversation.runs.create(assistant=conversation.assistant, status="in_progress", heartbeat_at=timezone.now())

    with pytest.raises(ServiceError) as refused:
        services.conversation_assistant_switch(user=alice, conversation_id=conversation.pk, assistant_id=other.pk)

    assert refused.value.code == "run_active"
    assert Conversation.objects.get(pk=conversation.pk).assistant_id != other.pk


@pytest.mark.django_db
def test_it_exports_the_branch_shown(alice, conversation):
    first = Message.objects.create(conversation=conversation, role="user", content="the first wording")
    Message.objects.create(conversation=conversation, role="assistant", content="an answer to it", parent=first)
    edited = Message.objects.create(conversation=conversation, role="user", content="a better one", edited_from=first)
    conversation.current = edited
    conversation.save()

    exported = conversation_export_markdown(conversation=conversation)

    assert "a better one" in exported and "the first wording" not in exported and "an answer to it" not in exported


@pytest.mark.django_db(transaction=True)
async def test_it_asks_the_model_with_the_branch_shown_after_an_edit(alice, conversation):
    # The run reads its input from the branch its message was stored on (handed over, not read again): the
    # vendor sees the edited question and not the one it replaced, with the new question last.
    with FakeOpenAIServer() as fake:
        provider = conversation.assistant.provider
        provider.kind, provider.api_style = Provider.Kind.OPENAI, Provider.ApiStyle.RESPONSES
        provider.base_url, provider.api_key, provider.default_model = fake.base_url, "sk-test", "fake-default"
        provider.max_retries = 0
        await provider.asave()
        ws = await ws_connect(conversation.pk, alice)
        await _turn(ws, "one")
        await _turn(ws, "two")
        two = await Message.objects.aget(conversation=conversation, content="two")
        await ws.send_json_to({"type": "message.edit", "message_id": two.pk, "content": "two, edited"})
        await collect_until(ws, *TERMINAL)
        await _turn(ws, "three")
        await ws.disconnect()
        asked = [request.user_texts for request in fake.model_requests()]
    assert asked == [["one"], ["one", "two"], ["one", "two, edited"], ["one", "two, edited", "three"]]
