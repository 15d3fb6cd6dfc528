"""Faults survived: a provider that is down, slow or talking nonsense; an MCP server answering malformed messages.
Each time the affected run ends with a clear status, every committed message stays, another conversation
is unaffected, and the next message works without a restart."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest
from django.conf import settings

from assistants.models import Assistant, Provider
from chat.models import Conversation, Message, Run
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from tests.fakes.garbage_http import GarbageServer
from tests.fakes.openai_server import FakeOpenAIServer, stall
from tests.ws import collect_until, ws_connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


async def turn(user, conversation: Conversation, content: str) -> list[dict]:
    ws = await ws_connect(conversation.pk, user)
    try:
        await ws.send_json_to({"type": "message.create", "content": content})
        return await collect_until(ws, *TERMINAL, timeout=40)
    finally:
        await ws.disconnect()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: connecting is refused


async def _assert_survived(alice, broken: Conversation, healthy: Conversation, fault: str, frames_task) -> None:
    """The faulty run and a healthy one in parallel, then the next message on the repaired provider."""
    healthy_frames = await turn(alice, healthy, "meanwhile, elsewhere")
    frames = await frames_task
    assert healthy_frames[-1]["event"] == "thread.run.completed", fault
    assert frames[-1]["event"] == "thread.run.failed", (fault, frames[-1])
    error = frames[-1]["data"]["last_error"]
    expected = {"down": "provider_unreachable", "slow": "provider_timeout", "garbage": "provider_error"}[fault]
    assert error["code"] == expected and error["message"] and "Traceback" not in error["message"]
    run = await Run.objects.aget(conversation=broken)
    assert run.status == Run.Status.FAILED
    assert await Message.objects.filter(conversation=broken, role="user", content="first").aexists()


@pytest.fixture
def chats(alice, offline_provider):
    faulty = Provider.objects.create(
        name="Faulty", kind=Provider.Kind.OPENAI_COMPATIBLE, api_style="chat_completions", base_url="http://x/v1",
        api_key="sk-test", default_model="m", timeout=1, max_retries=0,
    )  # fmt: skip
    broken = Conversation.objects.create(owner=alice, assistant=Assistant.objects.create(name="F", provider=faulty))
    healthy = Conversation.objects.create(
        owner=alice, assistant=Assistant.objects.create(name="H", provider=offline_provider)
    )
    return faulty, broken, healthy


@pytest.mark.parametrize("fault", ["down", "slow", "garbage"])
async def test_it_survives_a_provider_that_is_down_slow_or_answers_garbage(alice, chats, fault):
    faulty, broken, healthy = chats
    with FakeOpenAIServer() as fake, GarbageServer() as garbage:
        if fault == "slow":
            fake.script(stall(30))
        faulty.base_url = {
            "down": f"http://127.0.0.1:{_closed_port()}/v1",
            "slow": fake.base_url,
            "garbage": garbage.base_url,
        }[fault]
        await faulty.asave()
        frames_task = asyncio.ensure_future(turn(alice, broken, "first"))
        await _assert_survived(alice, broken, healthy, fault, frames_task)

        faulty.base_url = fake.base_url  # repaired: the fake answers normally once its stall is used up
        await faulty.asave()
        frames = await turn(alice, broken, "second")
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    contents = [m async for m in Message.objects.filter(conversation=broken).values_list("role", "content")]
    assert contents[0] == ("user", "first") and ("user", "second") in contents


@pytest.mark.parametrize("mode", ["garbage", "wrong-shape"])
async def test_it_survives_an_mcp_server_that_answers_a_malformed_message(alice, offline_provider, mode):
    bad = await MCPServer.objects.acreate(
        name="bad",
        command=sys.executable,
        args=[str(settings.BASE_DIR / "tests" / "fakes" / "bad_mcp_server.py"), mode],
        cwd=str(settings.BASE_DIR),
        call_timeout=3,
    )
    demo = await MCPServer.objects.acreate(
        name="demo", command=sys.executable, args=["-m", "mcp_servers.demo"], cwd=str(settings.BASE_DIR)
    )
    assistant = await Assistant.objects.acreate(name="B", provider=offline_provider)
    await assistant.mcp_servers.aset([bad, demo])
    broken = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    other = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    try:
        frames_task = asyncio.ensure_future(turn(alice, broken, "/broken {}"))
        other_frames = await turn(alice, other, '/add {"a": 2, "b": 3}')
        frames = await frames_task

        assert other_frames[-1]["event"] == "thread.run.completed"
        # The malformed answer fails that one tool call, not the run: the model hears of it and answers.
        assert frames[-1]["event"] == "thread.run.completed", frames[-1]
        (step,) = [f["data"] for f in frames if f["event"] == "thread.run.step.failed"]
        assert step["step_details"]["tool_calls"][0]["function"]["name"] == "broken"
        assert await Message.objects.filter(conversation=broken, role="user", content="/broken {}").aexists()

        again = await turn(alice, broken, "/draw_dot {}")
        assert again[-1]["event"] == "thread.run.completed"
    finally:
        await get_pool().close_all()
