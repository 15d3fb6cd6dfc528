"""Resources attached to a message and prompts as slash commands, against real MCP servers over stdio
(server-everything, and a small server whose resource changes): what the model reads (recorded by a real local
server speaking the OpenAI API), what is stored and shown, and what is refused with nothing stored."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import AsyncClient

from assistants.models import Provider
from assistants.offline import OfflineModel
from chat import mcp_resources
from chat.models import Message, Run
from chat.selectors import Attached
from chat.services import message_create, message_prompt_create
from core.errors import ServiceError
from core.tokens import token_create
from mcp_servers.models import MCPServer
from tests.api.conftest import AsyncApi
from tests.fakes.openai_server import FakeOpenAIServer
from tests.mcp_servers.conftest import everything_command
from tests.mcp_servers.test_transports import conversation_with
from tests.ws import collect_until, receive, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")
DOCUMENT = "demo://resource/static/document/architecture.md"
NOTES = str(settings.BASE_DIR / "tests" / "fakes" / "notes_mcp_server.py")


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def vendor(db, fake):
    return Provider.objects.create(
        name="Vendor",
        kind=Provider.Kind.OPENAI_COMPATIBLE,
        api_style=Provider.ApiStyle.CHAT_COMPLETIONS,
        base_url=fake.base_url,
        api_key="sk-test",
        default_model="fake-model",
        max_retries=0,
    )


def everything() -> dict:
    command, *args = everything_command()
    return {"transport": MCPServer.Transport.STDIO, "command": command, "args": args}


@pytest.fixture
async def conversation(alice, vendor, pool):
    return await sync_to_async(conversation_with)(alice, vendor, **everything())


def model_read(fake: FakeOpenAIServer, index: int = -1) -> str:
    """Everything the model was given in one request, as text."""
    return json.dumps(fake.model_requests()[index].body["messages"], ensure_ascii=False)


async def send(ws, **frame) -> list[dict]:
    await ws.send_json_to({"type": "message.create", **frame})
    return await collect_until(ws, *TERMINAL, "error")


async def test_it_gives_an_attached_resource_to_the_model_and_shows_it_on_the_message(alice, conversation, fake):
    ws = await ws_connect(conversation.pk, alice)
    attached = {"server": "tools", "uri": DOCUMENT, "title": "architecture.md"}
    frames = await send(ws, content="Summarise this.", resources=[attached])

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    created = next(f for f in frames if f["event"] == "thread.message.created")
    assert created["data"]["mcp_resources"] == [attached]
    assert "mcp_resources" not in created["data"]["metadata"]  # metadata values stay strings
    assert 'class="resource-chip"' in created["entry"]["html"] and "architecture.md" in created["entry"]["html"]
    read = model_read(fake)
    assert "Summarise this." in read
    assert f"Attached resource {DOCUMENT} (from the MCP server tools)" in read
    assert "Architecture" in read  # the document's own text
    message = await Message.objects.aget(conversation=conversation, role="user")
    assert message.metadata["mcp_resources"] == [attached] and message.attachments == []
    await ws.disconnect()


async def test_the_api_lists_the_attachments_beside_string_metadata_and_an_update_keeps_them(alice, conversation, fake):
    ws = await ws_connect(conversation.pk, alice)
    attached = {"server": "tools", "uri": DOCUMENT, "title": "architecture.md"}
    assert (await send(ws, content="Summarise this.", resources=[attached]))[-1]["event"] == "thread.run.completed"
    await ws.disconnect()
    api = AsyncApi(AsyncClient(), (await sync_to_async(token_create)(user=alice, name="test"))[1])
    listed = (await api.get(f"threads/{conversation.pk}/messages", order="asc")).json()["data"]
    assert listed[0]["mcp_resources"] == [attached] and listed[0]["metadata"] == {}

    updated = await api.post(f"threads/{conversation.pk}/messages/{listed[0]['id']}", {"metadata": {"k": "v"}})

    assert updated.json()["metadata"] == {"k": "v"} and updated.json()["mcp_resources"] == [attached]


async def test_it_warns_on_the_answer_when_a_resource_cannot_be_read_and_answers(alice, conversation, fake):
    ws = await ws_connect(conversation.pk, alice)
    missing = "demo://resource/static/document/no-such.md"
    frames = await send(ws, content="Read it.", resources=[{"server": "tools", "uri": missing}])

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.metadata["warning"].startswith(f"Could not read the attached resource {missing} on tools")
    assert "could not be read" in model_read(fake)
    await ws.disconnect()


async def test_it_refuses_a_resource_of_a_server_the_assistant_lacks_and_stores_nothing(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    frames = await send(ws, content="Read it.", resources=[{"server": "elsewhere", "uri": DOCUMENT}])

    assert frames[-1]["event"] == "error" and frames[-1]["data"]["code"] == "not_found"
    frames = await send(ws, content="Read it.", resources=[{"server": "tools", "uri": 5}])
    assert frames[-1]["event"] == "error" and frames[-1]["data"]["code"] == "invalid_value"
    assert not await Message.objects.filter(conversation=conversation).aexists()
    await ws.disconnect()


async def test_it_is_not_found_for_another_user(bob, conversation):
    with pytest.raises(ServiceError) as refused:
        await message_create(
            user=bob,
            conversation_id=conversation.pk,
            content="Mine now.",
            answer=True,
            resources=[{"server": "tools", "uri": DOCUMENT}],
        )
    assert refused.value.code == "not_found"
    with pytest.raises(ServiceError) as refused:
        await message_prompt_create(
            user=bob, conversation_id=conversation.pk, content="/tools:simple-prompt", check=lambda: None
        )
    assert refused.value.code == "not_found"
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_it_reads_a_changed_resource_again_on_the_next_turn(alice, vendor, fake, pool, tmp_path, settings):
    # The server reads its notes where a sandboxed server sees nothing of the host (its /tmp is its own).
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    notes = tmp_path / "notes.txt"
    notes.write_text("Buy milk.", encoding="utf-8")
    server = {"transport": MCPServer.Transport.STDIO, "command": sys.executable, "args": [NOTES, str(notes)]}
    conversation = await sync_to_async(conversation_with)(alice, vendor, **server)
    ws = await ws_connect(conversation.pk, alice)

    frames = await send(ws, content="What is on my list?", resources=[{"server": "tools", "uri": "notes://today"}])
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert "Buy milk." in model_read(fake)
    notes.write_text("Buy bread.", encoding="utf-8")
    frames = await send(ws, content="And now?")
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    # The first question is read with the notes as they are now (its answer, which quoted them, is as it was).
    first = json.dumps(fake.model_requests()[-1].body["messages"][0]["content"])
    assert "Buy bread." in first and "Buy milk." not in first
    await ws.disconnect()


async def test_it_fills_the_conversation_from_a_slash_prompt_and_answers(alice, conversation, fake):
    ws = await ws_connect(conversation.pk, alice)
    frames = await send(ws, content='/tools:args-prompt city=Boston state="New York"')

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    user = await Message.objects.aget(conversation=conversation, role="user")
    assert user.content == "What's weather in Boston, New York?"
    assert user.metadata == {"mcp_prompt": "tools:args-prompt"}
    assert "What's weather in Boston, New York?" in model_read(fake)
    assert "/tools:args-prompt" not in model_read(fake)
    await ws.disconnect()


async def test_it_stores_a_prompts_user_and_assistant_messages_as_such(alice, vendor, fake, pool, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("", encoding="utf-8")
    server = {"transport": MCPServer.Transport.STDIO, "command": sys.executable, "args": [NOTES, str(notes)]}
    conversation = await sync_to_async(conversation_with)(alice, vendor, **server)
    ws = await ws_connect(conversation.pk, alice)

    frames = await send(ws, content="/tools:interview topic=tides")

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    stored = [m async for m in Message.objects.filter(conversation=conversation).order_by("id")]
    assert [(m.role, m.content) for m in stored[:3]] == [
        ("user", "Interview me about tides."),
        ("assistant", "Gladly. What do you already know about tides?"),
        ("user", "Very little: start from the beginning."),
    ]
    assert stored[3].role == "assistant" and stored[3].run_id
    run = await Run.objects.aget(conversation=conversation)
    assert run.reply_to_id == stored[2].pk
    sent = fake.model_requests()[-1].body["messages"]
    assert [m["role"] for m in sent if m["role"] != "system"] == ["user", "assistant", "user"]
    await ws.disconnect()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("/tools:no-such-prompt", "has no prompt 'no-such-prompt'"),
        ("/tools:args-prompt", "missing city"),
        ("/tools:args-prompt city=Boston town=Salem", "unknown argument town"),
        ('/tools:args-prompt city="Boston', "could not be read"),
        ("/elsewhere:args-prompt city=Boston", "elsewhere"),
    ],
)
async def test_it_refuses_a_bad_slash_prompt_and_stores_nothing(alice, conversation, content, says):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": content})
    frame = await receive(ws)

    assert frame["event"] == "error", frame
    assert says in frame["data"]["message"]
    assert not await Message.objects.filter(conversation=conversation).aexists()
    await ws.disconnect()


async def test_it_still_runs_a_tool_command(alice, offline_provider, pool):
    conversation = await sync_to_async(conversation_with)(alice, offline_provider, **everything())
    ws = await ws_connect(conversation.pk, alice)
    frames = await send(ws, content='/echo {"message": "a:b"}')

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert "a:b" in answer.content
    await ws.disconnect()


def test_the_offline_model_does_not_take_a_prompt_command_for_a_tool_call():
    tool = SimpleNamespace(name="tools", description="")
    text, call = OfflineModel()._plan("/tools:args-prompt city=Boston", [tool])
    assert call is None and "asks for an MCP server's prompt" in text
    text, call = OfflineModel()._plan('/tools {"a": "b:c"}', [tool])
    assert text is None and json.loads(call["arguments"]) == {"a": "b:c"}


async def test_a_run_reads_the_latest_attachments_once_each_up_to_its_limit(alice, conversation, monkeypatch):
    monkeypatch.setattr(mcp_resources, "RESOURCES_PER_RUN", 1)
    server = await MCPServer.objects.aget(name="tools")
    older, newer = "demo://resource/static/document/features.md", DOCUMENT
    attached = [
        Attached(item={"role": "user", "content": "first"}, resources=[{"server": "tools", "uri": older}]),
        Attached(item={"role": "user", "content": "second"}, resources=[{"server": "tools", "uri": newer}]),
    ]

    warning = await mcp_resources.model_input_resources_read(
        attached=attached, servers=[server], refusal="", user_id=alice.pk, username="alice"
    )

    assert warning == ""
    assert "Not read again" in attached[0].item["content"][1]["text"]
    assert attached[1].item["content"][0] == {"type": "input_text", "text": "second"}
    assert "Architecture" in attached[1].item["content"][1]["text"]


async def test_a_run_reads_nothing_for_an_owner_who_may_no_longer_run_the_assistant(alice, conversation):
    server = await MCPServer.objects.aget(name="tools")
    attached = [Attached(item={"role": "user", "content": "q"}, resources=[{"server": "tools", "uri": DOCUMENT}])]

    warning = await mcp_resources.model_input_resources_read(
        attached=attached, servers=[server], refusal="Not yours.", user_id=alice.pk, username="alice"
    )

    assert warning.startswith(f"Could not read the attached resource {DOCUMENT} on tools (Not yours.)")
    assert "Architecture" not in json.dumps(attached[0].item)


async def test_it_lists_resource_templates_and_attaches_a_resource_made_from_one(alice, conversation, fake):
    client = AsyncClient()
    await sync_to_async(client.force_login)(alice)
    catalog = (await client.get(f"/conversations/{conversation.pk}/mcp/")).json()
    template = next(t for t in catalog["templates"] if t["title"] == "Dynamic Text Resource")
    assert template["server"] == "tools" and template["uri_template"].endswith("/{resourceId}")
    uri = template["uri_template"].replace("{resourceId}", "7")
    ws = await ws_connect(conversation.pk, alice)

    frames = await send(ws, content="What does it say?", resources=[{"server": "tools", "uri": uri}])

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert "Resource 7: This is a plaintext resource" in model_read(fake)
    await ws.disconnect()
