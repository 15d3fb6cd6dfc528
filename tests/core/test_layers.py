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
