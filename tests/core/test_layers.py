"""The channel layers: the in-memory one stays fast with many sockets, the Redis one queues for connections."""

from __future__ import annotations

import asyncio
import os

import pytest
from django.conf import settings

from core.layers import LocalChannelLayer, SharedChannelLayer


async def test_it_sweeps_expired_messages_at_most_once_a_second(monkeypatch):
    layer = LocalChannelLayer()
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
async def test_it_waits_for_a_free_redis_connection_instead_of_failing():
    layer = SharedChannelLayer(hosts=[{"address": settings.REDIS_URL}], prefix="layers-test", max_connections=2)
    channel = await layer.new_channel()
    await layer.group_add("many", channel)
    # Far more sends at once than connections: redis-py's own pool would raise MaxConnectionsError.
    await asyncio.gather(*(layer.group_send("many", {"type": "run.event", "n": n}) for n in range(40)))
    received = {(await layer.receive(channel))["n"] for _ in range(40)}
    assert received == set(range(40))
    await layer.flush()
