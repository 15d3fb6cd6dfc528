from __future__ import annotations

import json

import pytest

from chat.models import Conversation, Message, Run
from tests.ws import collect_until, receive, ws_connect, ws_open

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled")


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


async def test_it_closes_the_socket_for_anonymous_users(conversation):
    ws = await ws_open(conversation.pk)
    connected, _ = await ws.connect()
    assert connected
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_it_closes_the_socket_for_another_users_conversation(bob, conversation):
    ws = await ws_open(conversation.pk, bob)
    await ws.connect()
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_it_closes_the_socket_for_a_missing_conversation(alice):
    ws = await ws_open("thread_doesnotexist", alice)
    await ws.connect()
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_it_refuses_a_foreign_origin(alice, conversation):
    ws = await ws_open(conversation.pk, alice, origin="http://evil.example")
    connected, _ = await ws.connect()
    assert not connected


BAD_FRAMES = [
    ("not json at all", "invalid_json"),
    ("[1, 2, 3]", "invalid_frame"),
    ('"just a string"', "invalid_frame"),
    ('{"content": "hi"}', "unknown_type"),
    ('{"type": "message.explode"}', "unknown_type"),
    ('{"type": 42}', "unknown_type"),
    ('{"type": "message.create"}', "invalid_content"),
    ('{"type": "message.create", "content": ""}', "invalid_content"),
    ('{"type": "message.create", "content": "   "}', "invalid_content"),
    ('{"type": "message.create", "content": 12}', "invalid_content"),
    (json.dumps({"type": "message.create", "content": "x" * 20_000}), "content_too_long"),
    (json.dumps({"type": "message.create", "content": "x" * 40_000}), "frame_too_large"),
    ('{"type": "run.cancel", "run_id": "run_nope"}', "not_found"),
    ('{"type": "run.cancel"}', "invalid_run_id"),
    ('{"type": "run.approve", "run_id": "run_nope", "tool_call_id": "call_x"}', "not_found"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_it_answers_a_bad_frame_with_an_error_and_keeps_the_socket_open(alice, conversation, frame, code):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_to(text_data=frame)
    error = await receive(ws)
    assert error["event"] == "error"
    assert error["data"]["code"] == code
    assert error["data"]["message"]
    await ws.send_json_to({"type": "ping"})
    assert (await receive(ws))["event"] == "pong"
    assert not await Message.objects.filter(conversation=conversation).aexists()
    await ws.disconnect()


async def test_it_answers_binary_frames_with_an_error(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await receive(ws))["data"]["code"] == "invalid_frame"
    await ws.disconnect()


async def test_it_refuses_a_second_message_while_a_run_is_active(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/wait {"seconds": 30}'})
    frames = await collect_until(ws, "thread.run.step.delta")  # the tool call, announced
    run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
    await ws.send_json_to({"type": "message.create", "content": "another"})
    error = await receive(ws)
    assert (error["event"], error["data"]["code"]) == ("error", "run_active")
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 1
    await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
    await collect_until(ws, *TERMINAL)
    await ws.disconnect()


async def test_it_keeps_running_when_the_socket_closes(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/wait {"seconds": 0.5}'})
    frames = await collect_until(ws, "thread.run.created")
    run_id = frames[-1]["data"]["id"]
    await ws.disconnect()

    watcher = await ws_connect(conversation.pk, alice)
    frames = await collect_until(watcher, *TERMINAL)
    assert frames[-1]["event"] == "thread.run.completed"
    run = await Run.objects.aget(pk=run_id)
    assert run.status == Run.Status.COMPLETED
    assert await Message.objects.filter(run=run, role="assistant", status="completed").aexists()
    await watcher.disconnect()


async def test_it_streams_to_every_socket_on_the_conversation(alice, conversation):
    first = await ws_connect(conversation.pk, alice)
    second = await ws_connect(conversation.pk, alice)
    await first.send_json_to({"type": "message.create", "content": "/draw_dot"})
    seen_first = await collect_until(first, *TERMINAL)
    seen_second = await collect_until(second, *TERMINAL)
    assert [f["event"] for f in seen_first] == [f["event"] for f in seen_second]
    await first.disconnect()
    await second.disconnect()


async def test_it_draws_each_entry_of_a_turn_once_per_state(alice, conversation):
    # The page inserts the server's fragments: the question once, the answer as it starts and as it ends; the
    # answer's `created` carries none, its `in_progress` right behind it draws the same entry.
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "hello"})
    frames = await collect_until(ws, *TERMINAL)
    drawn = [(f["event"], f["data"]["role"]) for f in frames if "entry" in f]
    assert drawn == [
        ("thread.message.created", "user"),
        ("thread.message.in_progress", "assistant"),
        ("thread.message.completed", "assistant"),
    ]
    starting = next(f for f in frames if f["event"] == "thread.message.in_progress")
    assert 'class="plain streaming"' in starting["entry"]["html"]
    await ws.disconnect()
