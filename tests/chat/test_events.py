"""A run's outbox: events in order, deltas merged while a send is in flight, failures told to the run."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from chat.events import Outbox, conversation_group, events_of


async def _listening(thread_id: str) -> tuple[object, str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(conversation_group(thread_id), channel)
    return layer, channel


def _delta_text(data: dict) -> str:
    return data["delta"]["content"][0]["text"]["value"]


async def test_it_sends_each_delta_at_once_when_nothing_is_in_flight():
    layer, channel = await _listening("thread_idle")
    outbox = Outbox("thread_idle")
    for piece in ("Hel", "lo"):
        outbox.put_delta("msg_1", piece)
        await outbox.flush()
    first, second = events_of(await layer.receive(channel)), events_of(await layer.receive(channel))
    assert [_delta_text(data) for _, data in first + second] == ["Hel", "lo"]


async def test_it_merges_what_piles_up_into_one_message_in_order():
    layer, channel = await _listening("thread_busy")
    outbox = Outbox("thread_busy")
    outbox.put("thread.message.created", {"id": "msg_1"})
    for piece in ("a", "b", "c"):
        outbox.put_delta("msg_1", piece)
    outbox.put("thread.message.completed", {"id": "msg_1"})
    outbox.put_delta("msg_2", "d")
    await outbox.flush()

    events = events_of(await layer.receive(channel))
    assert [name for name, _ in events] == [
        "thread.message.created",
        "thread.message.delta",
        "thread.message.completed",
        "thread.message.delta",
    ]
    assert (events[1][1]["id"], _delta_text(events[1][1])) == ("msg_1", "abc")
    assert (events[3][1]["id"], _delta_text(events[3][1])) == ("msg_2", "d")


async def test_it_tells_the_run_once_that_a_send_failed(monkeypatch):
    layer = get_channel_layer()
    calls = []

    async def broken(group, message):
        calls.append(message)
        if len(calls) == 1:
            raise ConnectionError("layer down")

    monkeypatch.setattr(layer, "group_send", broken)
    outbox = Outbox("thread_broken")
    outbox.put("thread.run.in_progress", {"id": "run_1"})
    await asyncio.sleep(0)  # the send runs, and fails
    with pytest.raises(ConnectionError):
        outbox.put("thread.run.completed", {"id": "run_1"})
    outbox.put("thread.run.failed", {"id": "run_1"})  # the run can still report its end
    await outbox.flush()
    assert [events_of(m)[0][0] for m in calls] == ["thread.run.in_progress", "thread.run.failed"]
