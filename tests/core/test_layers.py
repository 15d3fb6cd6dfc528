"""The channel layers: the in-memory one stays fast with many sockets, the Redis one takes bursts."""

from __future__ import annotations

import asyncio
import os

import pytest
from channels.layers import get_channel_layer

from core.layers import LocalChannelLayer


async def test_it_sweeps_expired_messages_at_most_once_a_second(monkeypatch):
    layer = LocalChannelLayer()
    layer.sweep_interval = 60.0  # the sends below take well under that, however loaded the machine
    channels = [await layer.new_channel() for _ in range(200)]
    for channel in channels:
        await layer.group_add("crowd", channel)
    sweeps = []
    original = LocalChannelLayer.__mro__[1]._clean_expired
    monkeypatch.setattr(LocalChannelLayer.__mro__[1], "_clean_expired", lambda self: sweeps.append(original(self)))
    for _ in range(50):
        await layer.group_send("crowd", {"type": "run.event"})
    assert len(sweeps) == 1
    received = [(await layer.receive(channel))["type"] for channel in channels]
    assert received == ["run.event"] * len(channels)


async def test_it_still_expires_messages_nobody_read():
    layer = LocalChannelLayer(expiry=0)
    layer.sweep_interval = 0
    channel = await layer.new_channel()
    await layer.group_add("gone", channel)
    await layer.group_send("gone", {"type": "run.event"})
    await asyncio.sleep(0.01)
    layer._clean_expired()
    assert channel not in layer.channels
    assert channel not in layer.groups.get("gone", {})


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL")
async def test_it_takes_a_burst_of_sends_past_redis_pys_default_pool_size():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("burst", channel)
    # redis-py's own default pool (100 connections) raises MaxConnectionsError on a burst like this.
    await asyncio.gather(*(layer.group_send("burst", {"type": "run.event", "n": n}) for n in range(300)))
    received = {(await layer.receive(channel))["n"] for _ in range(300)}
    assert received == set(range(300))
    await layer.group_discard("burst", channel)


async def test_each_receiver_of_a_group_message_gets_its_own_copy():
    layer = LocalChannelLayer()
    first, second = await layer.new_channel(), await layer.new_channel()
    for channel in (first, second):
        await layer.group_add("pair", channel)
    sent = {"type": "run.event", "events": [["thread.message.created", {"id": "msg_1", "metadata": {}}]]}
    await layer.group_send("pair", sent)
    mine, theirs = await layer.receive(first), await layer.receive(second)
    mine["events"][0][1]["metadata"]["seen"] = "yes"
    sent["events"].clear()
    assert theirs == {"type": "run.event", "events": [["thread.message.created", {"id": "msg_1", "metadata": {}}]]}


async def test_it_refuses_a_message_the_redis_layer_could_not_carry():
    # Redis packs every message with msgpack: a set (or any object it cannot pack) must fail on one machine too.
    layer = LocalChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("strict", channel)
    with pytest.raises(TypeError):
        await layer.group_send("strict", {"type": "run.event", "ids": {"a", "b"}})
    with pytest.raises(TypeError):
        await layer.send(channel, {"type": "run.event", "ids": {"a", "b"}})


async def test_a_full_receiver_misses_a_group_message_and_the_others_still_get_it():
    layer = LocalChannelLayer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    for channel in (full, free):
        await layer.group_add("mixed", channel)
    await layer.send(full, {"type": "first"})
    await layer.group_send("mixed", {"type": "second"})
    assert (await layer.receive(free))["type"] == "second"
    assert (await layer.receive(full))["type"] == "first"
    assert full not in layer.channels  # nothing else waits for it: "second" never arrived
