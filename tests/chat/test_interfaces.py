"""Every interface is a thin caller of the same services: a message, a cancel and an approval sent over the
WebSocket, `/v1/` or Switchboard's MCP server leave the same rows and show the same events on an open page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from chat.models import Conversation, Message, Run
from core.tokens import token_create
from mcp_servers.models import MCPServer
from tests.mcp.helpers import connected, data
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.expired")
INTERFACES = ("websocket", "api", "mcp")


class Interface:
    """One way in: send a message that gets answered, cancel a run, approve a tool call."""

    def __init__(self, kind: str, user: Any, conversation: Conversation) -> None:
        self.kind, self.user, self.conversation = kind, user, conversation
        self.socket = None
        self.token = ""

    async def open(self) -> None:
        if self.kind == "websocket":
            self.socket = await ws_connect(self.conversation.pk, self.user)
        elif self.kind == "api":
            self.token = (await sync_to_async(token_create)(user=self.user, name="contract"))[1]

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.disconnect()

    async def _api(self, path: str, body: dict) -> dict:
        response = await AsyncClient().post(
            f"/v1/threads/{self.conversation.pk}/{path}",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.content
        return response.json()

    async def _mcp(self, tool: str, **arguments: Any) -> dict:
        async with connected(self.user) as client:
            return data(await client.call_tool(tool, {"thread_id": self.conversation.pk, **arguments}))

    async def ask(self, content: str) -> None:
        """A user message and the run that answers it."""
        if self.kind == "websocket":
            await self.socket.send_json_to({"type": "message.create", "content": content})
        elif self.kind == "api":
            await self._api("messages", {"role": "user", "content": content})
            await self._api("runs", {"assistant_id": self.conversation.assistant_id})
        else:
            await self._mcp("create_message", content=content)
            await self._mcp("create_run", wait=False)

    async def cancel(self, run_id: str) -> str | None:
        """Cancel; the interface's own answer about the run's status, where it gives one."""
        if self.kind == "websocket":
            await self.socket.send_json_to({"type": "run.cancel", "run_id": run_id})
            return None
        if self.kind == "api":
            return (await self._api(f"runs/{run_id}/cancel", {}))["status"]
        return (await self._mcp("cancel_run", run_id=run_id))["status"]

    async def approve(self, run_id: str, call_id: str) -> None:
        if self.kind == "websocket":
            await self.socket.send_json_to({"type": "run.approve", "run_id": run_id, "tool_call_id": call_id})
        elif self.kind == "api":
            await self._api(
                f"runs/{run_id}/submit_tool_outputs", {"tool_outputs": [{"tool_call_id": call_id, "output": "approve"}]}
            )
        else:
            await self._mcp("decide_tool_call", run_id=run_id, tool_call_id=call_id, approve=True, wait=False)


@pytest.fixture
def conversation(alice, demo_assistant, demo_server):
    demo_server.approval = MCPServer.Approval.LISTED
    demo_server.approval_tools = ["draw_dash"]
    demo_server.save()
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


def _names(frames: list[dict]) -> list[str]:
    return [frame["event"] for frame in frames]


async def _rows(conversation: Conversation) -> list[tuple]:
    messages = [(m.role, m.status) async for m in Message.objects.filter(conversation=conversation).order_by("id")]
    runs = [r.status async for r in Run.objects.filter(conversation=conversation).order_by("id")]
    return [*messages, *runs]


class Watcher:
    """A page left open on the conversation: every frame it receives, in order."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.frames: list[dict] = []

    async def until(self, *events: str) -> list[dict]:
        frames = await collect_until(self.socket, *events)
        self.frames += frames
        return frames


async def _turn(kind: str, alice: Any, conversation: Conversation, act: Any) -> tuple[list[str], list[tuple], Any]:
    watcher = Watcher(await ws_connect(conversation.pk, alice))
    interface = Interface(kind, alice, conversation)
    await interface.open()
    try:
        answer = await act(interface, watcher)
        await watcher.until(*TERMINAL)
    finally:
        await interface.close()
        await watcher.socket.disconnect()
    events = [name for name in _names(watcher.frames) if name != "thread.message.delta"]
    return events, await _rows(conversation), answer


async def _message(interface: Interface, watcher: Watcher) -> None:
    await interface.ask("/draw_dot {}")


async def _cancel(interface: Interface, watcher: Watcher) -> str | None:
    await interface.ask('/wait {"seconds": 30}')
    frames = await watcher.until("thread.run.step.in_progress")
    run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
    return await interface.cancel(run_id)


async def _approve(interface: Interface, watcher: Watcher) -> None:
    await interface.ask("/draw_dash {}")
    paused = (await watcher.until("thread.run.requires_action"))[-1]["data"]
    call_id = paused["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    await interface.approve(paused["id"], call_id)


@pytest.mark.parametrize("action", [_message, _cancel, _approve], ids=["message", "cancel", "approval"])
async def test_it_behaves_the_same_on_every_interface(alice, conversation, action):
    seen = {}
    for kind in INTERFACES:
        await Message.objects.filter(conversation=conversation).adelete()
        await Run.objects.filter(conversation=conversation).adelete()
        seen[kind] = await _turn(kind, alice, conversation, action)

    events, rows, _ = seen["websocket"]
    assert events[0] == "thread.message.created", "the page sees the message as it arrives"
    for kind in ("api", "mcp"):
        assert seen[kind][0] == events, f"{kind} shows the page other events than the WebSocket does"
        assert seen[kind][1] == rows, f"{kind} leaves other rows than the WebSocket does"
    if action is _cancel:
        assert events[-1] == "thread.run.cancelled"
        assert seen["api"][2] == seen["mcp"][2] == "cancelled", "a cancel answers with the run once it stopped"
