from __future__ import annotations

import sys

import pytest
from django.conf import settings

from chat.models import Conversation, Message, RunStep
from mcp_servers.models import MCPServer
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def twin_conversation(alice, demo_assistant):
    twin = MCPServer.objects.create(
        name="twin",
        transport=MCPServer.Transport.STDIO,
        command=sys.executable,
        args=["-m", "mcp_servers.demo"],
        cwd=str(settings.BASE_DIR),
    )
    demo_assistant.mcp_servers.add(twin)
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


async def _turn(alice, conversation, content: str) -> str:
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": content})
    await collect_until(ws, "thread.run.completed", "thread.run.failed")
    await ws.disconnect()
    message = await Message.objects.filter(conversation=conversation, role="assistant").order_by("-id").afirst()
    return message.content


async def test_it_prefixes_tools_whose_names_collide_across_servers(alice, twin_conversation):
    listing = await _turn(alice, twin_conversation, "/tools")

    assert "mcp_demo__add" in listing
    assert "mcp_twin__add" in listing

    await _turn(alice, twin_conversation, '/mcp_twin__add {"a": 1, "b": 2}')
    step = await RunStep.objects.aget(run__conversation=twin_conversation, type="tool_calls")
    assert (step.tool_name, step.server_name, step.output) == ("mcp_twin__add", "twin", "3")


async def test_it_keeps_plain_names_without_a_collision(alice, demo_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)

    listing = await _turn(alice, conversation, "/tools")

    assert "add" in listing
    assert "mcp_demo__add" not in listing
