"""The red team's findings on the chat side, reproduced as they were found (issue: accounts and trust)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient, Client

from chat.models import Conversation, Message, Run, RunStep
from chat.serializers import run_step_bounded, run_step_object
from chat.services import messages
from config.asgi import application
from core.tokens import token_create, token_revoke
from tests.mcp.helpers import connected
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


def _limit(settings, **values) -> None:
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, **values}


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def _socket_for(client: Client, thread_id: str) -> WebsocketCommunicator:
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    headers = [
        (b"origin", b"http://127.0.0.1"),
        (b"host", b"127.0.0.1"),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
    ]
    socket = WebsocketCommunicator(application, f"/ws/conversations/{thread_id}/", headers=headers)
    assert (await socket.connect())[0]
    return socket


async def _closed_with(socket: WebsocketCommunicator) -> int:
    while True:
        output = await socket.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            return output.get("code")


# --- 2. Sockets outlive a logout, a deactivation, a revoked token ----------------------------------------------


async def test_it_ends_a_chat_socket_whose_user_logged_out(alice, conversation):
    client = await sync_to_async(_logged_in)(alice)
    socket = await _socket_for(client, conversation.pk)
    await sync_to_async(client.logout)()

    await socket.send_json_to({"type": "message.create", "content": "still here?"})

    assert await _closed_with(socket) == 4401
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_it_ends_a_chat_socket_whose_user_logged_out_before_reading_attached_resources(
    alice, conversation, monkeypatch
):
    asked = []
    monkeypatch.setattr(messages, "resources_check", lambda **kwargs: asked.append(kwargs) or [])
    client = await sync_to_async(_logged_in)(alice)
    socket = await _socket_for(client, conversation.pk)
    await sync_to_async(client.logout)()

    resources = [{"server": "demo", "uri": "demo://notes/1"}]
    await socket.send_json_to({"type": "message.create", "content": "read this", "resources": resources})

    assert await _closed_with(socket) == 4401
    assert asked == []  # the servers were never asked for the resource
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_it_ends_a_chat_socket_whose_user_logged_out_on_any_frame(alice, conversation):
    """A message re-checks the login in the trip that stores it; every other frame checks it first."""
    client = await sync_to_async(_logged_in)(alice)
    socket = await _socket_for(client, conversation.pk)
    await sync_to_async(client.logout)()

    await socket.send_json_to({"type": "run.cancel", "run_id": "run_none"})

    assert await _closed_with(socket) == 4401


async def test_it_ends_a_chat_socket_whose_user_was_deactivated(alice, conversation):
    socket = await ws_connect(conversation.pk, alice)
    alice.is_active = False
    await alice.asave(update_fields=["is_active"])

    await socket.send_json_to({"type": "message.create", "content": "still here?"})

    assert await _closed_with(socket) == 4401
    assert not await Run.objects.filter(conversation=conversation).aexists()


async def test_it_ends_an_mcp_socket_whose_token_was_revoked(alice):
    token, raw = await sync_to_async(token_create)(user=alice, name="mcp")
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {raw}".encode())]
    socket = WebsocketCommunicator(application, "/mcp/ws", headers=headers, subprotocols=["mcp"])
    assert (await socket.connect())[0]
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    await socket.send_to(text_data=json.dumps(ping))
    assert json.loads(await socket.receive_from(timeout=10))["id"] == 1

    await sync_to_async(token_revoke)(user=alice, token_id=token.pk)
    await socket.send_to(text_data=json.dumps({**ping, "id": 2}))

    assert await _closed_with(socket) == 4401


# --- 4. One message limit, whatever the interface ----------------------------------------------------------------


async def test_it_counts_initial_messages_and_runs_against_the_message_limit(settings, alice, demo_assistant):
    _limit(settings, RATE_MESSAGES_PER_MINUTE=2)
    _, raw = await sync_to_async(token_create)(user=alice, name="api")
    auth = {"Authorization": f"Bearer {raw}"}
    body = {"messages": [{"role": "user", "content": f"m{i}"} for i in range(3)]}

    response = await AsyncClient().post("/v1/threads", json.dumps(body), content_type="application/json", headers=auth)

    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert not await Conversation.objects.aexists()


async def test_it_counts_runs_made_over_mcp_against_the_message_limit(settings, alice, conversation):
    _limit(settings, RATE_MESSAGES_PER_MINUTE=2)
    # The limit counts in fixed one-minute windows: three runs must not straddle two of them.
    to_next_window = 60 - time.time() % 60
    if to_next_window < 15:
        await asyncio.sleep(to_next_window + 0.1)
    async with connected(alice) as client:
        for _ in range(2):
            result = await client.call_tool("create_run", {"thread_id": conversation.pk, "wait": True})
            assert not result.is_error, result.content[0].text
        refused = await client.call_tool("create_run", {"thread_id": conversation.pk, "wait": False})

    assert refused.is_error and "at most 2 a minute" in refused.content[0].text
    assert await Run.objects.filter(conversation=conversation).acount() == 2


# --- 9. A lone surrogate is bad input, not a crash ------------------------------------------------------------


async def test_it_answers_a_lone_surrogate_with_an_error_frame(alice, conversation):
    socket = await ws_connect(conversation.pk, alice)
    await socket.send_to(text_data='{"type": "message.create", "content": "bad \\ud800 text"}')
    error = (await collect_until(socket, "error"))[-1]["data"]
    await socket.send_json_to({"type": "ping"})
    pong = (await collect_until(socket, "pong"))[-1]
    await socket.disconnect()

    assert error["code"] == "invalid_text" and pong["event"] == "pong"
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_it_answers_a_lone_surrogate_on_the_api_with_a_400(alice, conversation):
    _, raw = await sync_to_async(token_create)(user=alice, name="api")
    response = await AsyncClient().post(
        f"/v1/threads/{conversation.pk}/messages",
        '{"role": "user", "content": "bad \\ud800 text"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


# --- 11. A cap on one user's open sockets ----------------------------------------------------------------------


async def test_it_caps_the_sockets_one_user_holds_open(settings, alice, conversation):
    _limit(settings, WS_SOCKETS_PER_USER=2)
    first, second = await ws_connect(conversation.pk, alice), await ws_connect(conversation.pk, alice)
    third = await ws_connect(conversation.pk, alice)
    assert await _closed_with(third) == 4429
    await first.disconnect()
    fourth = await ws_connect(conversation.pk, alice)  # a closed socket frees its place
    await fourth.send_json_to({"type": "ping"})
    assert (await collect_until(fourth, "pong"))[-1]["event"] == "pong"
    await second.disconnect()
    await fourth.disconnect()


# --- 5. What an event or the page carries is bounded ----------------------------------------------------------


def test_it_cuts_a_huge_tool_output_short_in_events_and_on_the_page(settings, alice, bob, conversation):
    run = Run.objects.create(conversation=conversation, assistant=conversation.assistant, status="completed")
    huge = "x" * (2 * 1024 * 1024)
    step = RunStep.objects.create(
        run=run, type="tool_calls", status="completed", tool_name="dump", tool_call_id="c1", output=huge
    )
    data = run_step_bounded(
        run_step_object(step, thread_id=conversation.pk, assistant_id=None),
        settings.SWITCHBOARD["TOOL_OUTPUT_SHOWN_CHARS"],
    )
    shown = data["step_details"]["tool_calls"][0]["function"]["output"]
    assert len(shown) == settings.SWITCHBOARD["TOOL_OUTPUT_SHOWN_CHARS"] and data["metadata"]["output_truncated"]

    page = _logged_in(alice).get(f"/conversations/{conversation.pk}/")
    assert page.status_code == 200 and len(page.content) < 1024 * 1024
    assert f"/conversations/{conversation.pk}/steps/{step.pk}/output".encode() in page.content
    whole = _logged_in(alice).get(f"/conversations/{conversation.pk}/steps/{step.pk}/output")
    assert whole.status_code == 200 and len(whole.content) == len(huge)
    assert _logged_in(bob).get(f"/conversations/{conversation.pk}/steps/{step.pk}/output").status_code == 404
