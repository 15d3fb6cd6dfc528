"""The channel layers: the in-memory one stays fast with many sockets, the Redis one takes bursts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading

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


def _redis_layer(**options):
    from django.conf import settings

    from core.layers import RedisChannelLayer

    return RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=f"test{os.urandom(4).hex()}", **options)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL")
async def test_a_redis_group_send_reaches_every_process_in_two_trips(monkeypatch):
    from redis.asyncio.client import Pipeline, Redis

    here, there = _redis_layer(), _redis_layer()
    there.prefix = here.prefix  # two processes of one site
    mine, theirs = await here.new_channel(), await there.new_channel()
    for layer, channel in ((here, mine), (there, theirs)):
        await layer.group_add("turn", channel)
    trips = []
    execute, pipeline_execute = Redis.execute_command, Pipeline.execute
    monkeypatch.setattr(Redis, "execute_command", lambda self, *a, **k: trips.append(a[0]) or execute(self, *a, **k))
    monkeypatch.setattr(Pipeline, "execute", lambda self, *a, **k: trips.append("PIPELINE") or pipeline_execute(self))
    await here.group_send("turn", {"type": "run.event", "n": 1})
    monkeypatch.undo()
    assert trips == ["PIPELINE", "EVAL"]
    assert (await here.receive(mine))["n"] == 1
    assert (await there.receive(theirs))["n"] == 1
    for layer in (here, there):
        await layer.flush()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL")
async def test_a_full_redis_receiver_misses_a_group_message_and_an_expired_one_is_dropped():
    # Two processes: each process's channels share one Redis key, which is what fills up.
    crowded, idle = _redis_layer(capacity=1, expiry=1), _redis_layer(capacity=1, expiry=1)
    idle.prefix = crowded.prefix
    full, free = await crowded.new_channel(), await idle.new_channel()
    await crowded.group_add("mixed", full)
    await idle.group_add("mixed", free)
    await crowded.send(full, {"type": "first"})
    await crowded.group_send("mixed", {"type": "second"})
    assert (await idle.receive(free))["type"] == "second"
    assert (await crowded.receive(full))["type"] == "first"  # "second" found it full
    await crowded.send(full, {"type": "stale"})
    await asyncio.sleep(2.1)  # past the expiry, in whole seconds as Redis scores it
    await crowded.group_send("mixed", {"type": "fresh"})  # drops the stale message before it counts the room
    assert (await crowded.receive(full))["type"] == "fresh"
    assert (await idle.receive(free))["type"] == "fresh"
    for layer in (crowded, idle):
        await layer.flush()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL")
async def test_a_socket_that_stops_receiving_takes_no_other_sockets_message_with_it():
    """Two sockets of one process share one Redis key. The one that stops receiving (it closed) while a pop was in
    flight must not drop the message the pop brought for the other (channels_redis's own receive does)."""
    layer, sender = _redis_layer(), _redis_layer()
    sender.prefix = layer.prefix  # another process of the site
    closing, staying = await layer.new_channel(), await layer.new_channel()
    receiving = asyncio.ensure_future(layer.receive(closing))
    await asyncio.sleep(0.2)  # a pop of the process's key is waiting in Redis
    # Sent while this loop is held: Redis answers the waiting pop before this process reads anything.
    send = threading.Thread(target=asyncio.run, args=(sender.send(staying, {"type": "run.event", "for": "staying"}),))
    send.start()
    send.join()
    receiving.cancel()  # the closing socket's receive ends before the pop's answer is read
    with contextlib.suppress(asyncio.CancelledError):
        await receiving
    assert await asyncio.wait_for(layer.receive(staying), timeout=5) == {"type": "run.event", "for": "staying"}
    await layer.flush()
