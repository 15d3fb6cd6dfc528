"""Arbitrary input at the WebSocket consumer and the `/v1/` API: never a server error, never a dead socket,
every refusal a clear error. Each test prints how many inputs it tried."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.models import Conversation
from core.tokens import token_create
from tests.ws import ws_connect

FRAME_TYPES = [
    "message.create",
    "run.cancel",
    "run.approve",
    "run.deny",
    "thread.snapshot",
    "message.regenerate",
    "run.retry",
    "ping",
    "",
    "nonsense",
]
FIELDS = ("type", "content", "run_id", "tool_call_id", "reason")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=12,
)
huge_strings = st.integers(min_value=15_000, max_value=40_000).map(lambda n: "é" * n)
field_values = json_values | huge_strings
frames_as_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(FRAME_TYPES)},
    optional={name: field_values for name in FIELDS[1:]},
).map(json.dumps)
ws_frames = (
    st.text(max_size=200)
    | json_values.map(json.dumps)
    | frames_as_objects
    | st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=4).map(json.dumps)
    | huge_strings
)


class LoopThread:
    """An event loop in its own thread, so one communicator lives across hypothesis's (sync) examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        # Cancel what the test left running here (the executor's listener holds a channel-layer receive),
        # as pytest-asyncio does for its own loops, so the next loop may use the layer.
        async def cancel_the_rest() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def _frame_and_ping(ws, text: str) -> list[dict[str, Any]]:
    """Send one frame, then a ping; return what came back before the pong."""
    await ws.send_input({"type": "websocket.receive", "text": text})
    await ws.send_json_to({"type": "ping"})
    received = []
    while True:
        output = await ws.receive_output(timeout=30)
        assert output["type"] == "websocket.send", f"the socket closed on {text[:200]!r}: {output}"
        frame = json.loads(output["text"])
        if frame["event"] == "pong":
            return received
        received.append(frame)


@pytest.mark.django_db(transaction=True)
def test_it_survives_thousands_of_arbitrary_websocket_frames(alice, demo_assistant):
    conversation = Conversation.objects.create(owner=alice, assistant=demo_assistant)
    runner = LoopThread()
    ws = runner.run(ws_connect(conversation.pk, alice))
    tried = {"frames": 0, "errors": 0}

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(text=ws_frames)
    def check(text: str) -> None:
        tried["frames"] += 1
        for frame in runner.run(_frame_and_ping(ws, text)):
            if frame["event"] == "error":
                tried["errors"] += 1
                assert set(frame["data"]) == {"code", "message"}
                assert frame["data"]["code"] and frame["data"]["message"]
                assert frame["data"]["code"] != "server_error"
            else:
                assert frame["event"].startswith("thread."), frame

    try:
        check()

        # Still alive: a real message gets a real answer.
        async def real_message() -> str:
            await ws.send_json_to({"type": "run.cancel", "run_id": "none"})  # drain any active run
            for _ in range(200):
                await ws.send_json_to({"type": "message.create", "content": "hello after the storm"})
                while True:
                    frame = json.loads(await ws.receive_from(timeout=30))
                    if frame["event"] == "error" and frame["data"]["code"] == "run_active":
                        await asyncio.sleep(0.1)  # a fuzzed message's run is still answering
                        break
                    if frame["event"] in ("thread.run.completed", "thread.run.failed"):
                        return frame["event"]
            return "gave up"

        assert runner.run(real_message(), timeout=120) == "thread.run.completed"
    finally:
        runner.run(ws.disconnect())
        runner.stop()
    print(f"\nWebSocket fuzz: {tried['frames']} frames tried, {tried['errors']} answered with an error frame")


API_ENDPOINTS = [
    "assistants",
    "threads",
    "threads/runs",
    "threads/{thread}",
    "threads/{thread}/messages",
    "threads/{thread}/runs",
]
api_bodies = (
    json_values.map(lambda value: json.dumps(value).encode())
    | st.dictionaries(
        st.sampled_from(
            ["model", "name", "metadata", "messages", "content", "role", "assistant_id", "thread", "tools", "stream"]
        ),
        field_values,
        max_size=5,
    ).map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
)


@pytest.mark.django_db(transaction=True)
def test_it_answers_arbitrary_api_bodies_without_a_server_error(alice, offline_provider):
    thread = Conversation.objects.create(owner=alice)
    client = Client(raise_request_exception=True)
    headers = {"Authorization": f"Bearer {token_create(user=alice, name='fuzz')[1]}"}
    tried = {"requests": 0, "refused": 0}

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(endpoint=st.sampled_from(API_ENDPOINTS), body=api_bodies)
    def check(endpoint: str, body: bytes) -> None:
        tried["requests"] += 1
        path = "/v1/" + endpoint.format(thread=thread.pk)
        response = client.post(path, body, content_type="application/json", headers=headers)
        assert response.status_code < 500, (path, body[:200], response.content[:500])
        if response.status_code >= 400:
            tried["refused"] += 1
            error = response.json()["error"]
            assert error["message"] and error["type"], error

    check()
    print(f"\nAPI fuzz: {tried['requests']} requests tried, {tried['refused']} refused with a 4xx error")
