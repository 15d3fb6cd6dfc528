"""An assistant with one MCP server that cannot be reached still answers, with the others' tools and a warning."""

from __future__ import annotations

import sys

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from django.urls import reverse

from assistants.services import assistant_agent_build
from chat.models import Conversation, Message, Run
from mcp_servers.models import MCPServer
from tests.mcp_servers.conftest import free_port
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def closed_port_server(db):
    # Nothing listens on a port just freed: every connect is refused.
    return MCPServer.objects.create(
        name="offline-http",
        transport=MCPServer.Transport.STREAMABLE_HTTP,
        url=f"http://127.0.0.1:{free_port()}/mcp",
        connect_timeout=5,
        last_tools=[{"name": "lookup"}, {"name": "search"}],
    )


@pytest.fixture
def exiting_server(db):
    # A stdio command that exits at once, before any handshake.
    return MCPServer.objects.create(
        name="exits",
        transport=MCPServer.Transport.STDIO,
        command=sys.executable,
        args=["-c", "raise SystemExit(3)"],
        cwd=str(settings.BASE_DIR),
        connect_timeout=5,
    )


@pytest.fixture
def conversation(alice, demo_assistant, closed_port_server, exiting_server):
    demo_assistant.mcp_servers.add(closed_port_server, exiting_server)
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


async def _turn(conversation: Conversation, user, content: str) -> list[dict]:
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    return frames


async def test_it_answers_with_the_other_servers_tools(alice, conversation):
    frames = await _turn(conversation, alice, '/add {"a": 2, "b": 3}')
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    answer = await Message.objects.aget(conversation=conversation, role=Message.Role.ASSISTANT)
    assert "5" in answer.content


async def test_it_records_which_servers_were_skipped_and_why(alice, conversation):
    frames = await _turn(conversation, alice, "hello")
    run = frames[-1]["data"]
    assert run["status"] == "completed"
    skipped = run["metadata"]["mcp_servers_skipped"]
    assert isinstance(skipped, str) and len(skipped) <= 512  # Assistants v2 metadata: strings of 512 at most
    assert "offline-http" in skipped and "exits" in skipped and "demo" not in skipped
    stored = await Run.objects.aget(pk=run["id"])
    assert stored.metadata["mcp_servers_skipped"] == skipped


async def test_it_puts_a_visible_warning_on_the_answer(alice, conversation):
    frames = await _turn(conversation, alice, "hello")
    created = next(f for f in frames if f["event"] == "thread.message.created" and f["data"]["role"] == "assistant")
    warning = created["data"]["metadata"]["warning"]
    assert "offline-http" in warning and "exits" in warning
    html = next(f for f in frames if f["event"] == "thread.message.in_progress")["entry"]["html"]
    assert 'class="answer-warning"' in html and "offline-http" in html
    answer = await Message.objects.aget(conversation=conversation, role=Message.Role.ASSISTANT)
    assert answer.metadata["warning"] == warning
    assert "offline-http" not in answer.content  # the warning is beside the answer, not in the model's history
    page = await sync_to_async(_page)(alice, conversation)
    assert 'class="answer-warning"' in page and "offline-http" in page


def _page(user, conversation: Conversation) -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()


async def test_it_says_each_reason_once(alice, conversation):
    frames = await _turn(conversation, alice, "hello")
    skipped = frames[-1]["data"]["metadata"]["mcp_servers_skipped"]
    assert skipped == (
        "exits (could not be started: Connection closed); offline-http (could not connect: Could not reach the server)"
    )
    answer = next(f for f in frames if f["event"] == "thread.message.created" and f["data"]["role"] == "assistant")
    for text in (skipped, answer["data"]["metadata"]["warning"]):
        for name in ("exits", "offline-http"):
            assert text.count(name) == 1, text
        assert "Failed to connect" not in text and text.lower().count("mcp server") <= 1, text


async def test_it_tells_the_model_which_tools_are_unavailable(alice, conversation, demo_assistant):
    servers = await sync_to_async(list)(demo_assistant.mcp_servers.order_by("name"))
    assistant = await sync_to_async(lambda: type(demo_assistant).objects.select_related("provider").get())()
    build = await assistant_agent_build(
        assistant=assistant, user_id=alice.pk, username="alice", instructions="Be brief.", servers=servers
    )
    assert [skip.name for skip in build.skipped] == ["exits", "offline-http"]
    assert build.agent.instructions.startswith("Be brief.")
    assert "offline-http" in build.agent.instructions and "lookup, search" in build.agent.instructions
    assert "add" in build.tool_servers and build.tool_servers["add"] == "demo"
