"""The channel layer on Redis: an idle listener is not cut off, and a dropped connection is replaced."""

from __future__ import annotations

import asyncio
import os
import random

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL")


async def test_it_keeps_an_idle_channel_listening_past_the_redis_socket_timeout():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    # Idle on purpose: a chat socket waits this long between answers. 7 s is past redis-py's default 5 s timeout.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(7):
            await layer.receive(channel)
    await layer.send(channel, {"type": "still.here"})
    async with asyncio.timeout(5):
        assert (await layer.receive(channel))["type"] == "still.here"


async def test_it_delivers_group_messages_after_redis_drops_every_connection():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("faults.redis", channel)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.client_kill_filter(_type="normal", skipme=True)
    finally:
        client.close()

    await layer.group_send("faults.redis", {"type": "after.outage"})
    async with asyncio.timeout(10):
        assert (await layer.receive(channel))["type"] == "after.outage"


async def test_it_unwinds_every_cancelled_receive_and_keeps_receiving():
    """Sockets close while their receive is mid-command: each cancelled receive must end, or it keeps the
    layer's receive lock and the process's other sockets wait behind it."""
    layer = get_channel_layer()
    rng = random.Random(7)
    for _ in range(300):
        first, second = await layer.new_channel(), await layer.new_channel()
        receives = [asyncio.ensure_future(layer.receive(first)), asyncio.ensure_future(layer.receive(second))]
        await asyncio.sleep(rng.random() * 0.01)
        if rng.random() < 0.5:
            await layer.send(first, {"type": "hello"})
        for receive in receives:
            receive.cancel()
            await asyncio.sleep(rng.random() * 0.003)
        _, stuck = await asyncio.wait(receives, timeout=5)
        assert not stuck, "a cancelled receive kept running"

    channel = await layer.new_channel()
    await layer.send(channel, {"type": "still.here"})
    async with asyncio.timeout(5):
        assert (await layer.receive(channel))["type"] == "still.here"
