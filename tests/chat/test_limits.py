from __future__ import annotations

import asyncio
import os

import pytest

from chat.executor import Executor, get_executor
from chat.models import Conversation, Message, Run
from mcp_servers.pool import get_pool
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = (
    "thread.run.completed",
    "thread.run.failed",
    "thread.run.cancelled",
    "thread.run.incomplete",
    "thread.run.expired",
)


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


def _limit(settings, **values) -> None:
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, **values}


async def _wait_until_running(run_id: str) -> None:
    async with asyncio.timeout(20):
        while (await Run.objects.aget(pk=run_id)).status != Run.Status.IN_PROGRESS:
            await asyncio.sleep(0.05)


async def test_it_refuses_messages_past_the_rate_limit_and_stores_nothing(settings, alice, conversation):
    _limit(settings, RATE_MESSAGES_PER_MINUTE=2)
    ws = await ws_connect(conversation.pk, alice)
    for text in ("one", "two"):
        await ws.send_json_to({"type": "message.create", "content": text})
        await collect_until(ws, *TERMINAL)

    await ws.send_json_to({"type": "message.create", "content": "three"})
    error = (await collect_until(ws, "error"))[-1]["data"]

    assert error["code"] == "rate_limited"
    assert "2 a minute" in error["message"]
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 2
    await ws.send_json_to({"type": "ping"})
    assert (await collect_until(ws, "pong"))[-1]["event"] == "pong"
    await ws.disconnect()


async def test_it_limits_concurrent_runs_per_user(settings, alice, conversation, demo_assistant):
    _limit(settings, RUNS_CONCURRENT_PER_USER=1)
    other = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    ws = await ws_connect(conversation.pk, alice)
    ws_other = await ws_connect(other.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/wait {"seconds": 30}'})
    run_id = (await collect_until(ws, "thread.run.created"))[-1]["data"]["id"]

    await ws_other.send_json_to({"type": "message.create", "content": "hello"})
    error = (await collect_until(ws_other, "error"))[-1]["data"]

    assert error["code"] == "too_many_runs"
    assert await Message.objects.filter(conversation=other).acount() == 0
    await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
    await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    await ws_other.disconnect()


async def test_it_ends_a_run_that_makes_too_many_tool_calls_as_incomplete(settings, alice, conversation):
    _limit(settings, RUN_MAX_TOOL_CALLS=0)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "/draw_dot {}"})
    frames = await collect_until(ws, *TERMINAL)

    assert frames[-1]["event"] == "thread.run.incomplete"
    run = await Run.objects.aget(conversation=conversation)
    assert (run.status, run.incomplete_reason) == ("incomplete", "max_tool_calls")
    await ws.disconnect()


async def test_it_cancels_a_run_owned_by_another_executor_through_the_channel_layer(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/wait {"seconds": 30}'})
    run_id = (await collect_until(ws, "thread.run.created"))[-1]["data"]["id"]
    # The run belongs to this loop's executor; the request comes from a process that does not own it.
    owner = get_executor()
    await _wait_until_running(run_id)
    stranger = Executor()
    assert stranger.cancel(run_id) is False

    from chat import executor as executor_module

    loop = asyncio.get_running_loop()
    executor_module._executors[loop] = stranger
    try:
        await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
        frames = await collect_until(ws, *TERMINAL)
    finally:
        executor_module._executors[loop] = owner

    assert "thread.run.cancelling" in [f["event"] for f in frames]
    assert frames[-1]["event"] == "thread.run.cancelled"
    assert (await Run.objects.aget(pk=run_id)).status == Run.Status.CANCELLED
    await ws.disconnect()


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[1] == me:
                        found.add(int(entry))
            except OSError:
                continue
    return found


async def test_it_expires_runs_still_going_at_shutdown_and_leaves_no_mcp_process(alice, conversation):
    before = _children()
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/wait {"seconds": 30}'})
    run_id = (await collect_until(ws, "thread.run.created"))[-1]["data"]["id"]
    # The tool call has started, so the demo MCP server is up and busy.
    await collect_until(ws, "thread.run.step.in_progress")
    assert _children() - before, "the demo MCP server should be running"

    executor = get_executor()
    await executor.shutdown(grace=0.2)
    frames = await collect_until(ws, *TERMINAL)

    assert frames[-1]["event"] == "thread.run.expired"
    run = await Run.objects.aget(pk=run_id)
    assert (run.status, run.last_error_code) == ("expired", "expired")
    assert get_pool().stats()["connections"] == 0
    assert _children() - before == set()
    await ws.send_json_to({"type": "message.create", "content": "anyone there?"})
    assert (await collect_until(ws, "error"))[-1]["data"]["code"] == "shutting_down"
    await ws.disconnect()
