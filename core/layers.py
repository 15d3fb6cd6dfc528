"""The channel layers: the in-process one, made to hold up under a thousand open sockets, and Redis's, with a
cheaper group send and a receive that a closing socket cannot rob."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import channels_redis.core
import msgpack
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

logger = logging.getLogger(__name__)


class LocalChannelLayer(InMemoryChannelLayer):
    """The in-memory layer, sweeping expired messages at most once a second, and copying each message the way
    the Redis layer does: through msgpack.

    Channels' own layer sweeps every channel and every group on each send and receive: with a thousand
    sockets each event costs thousands of steps, and a busy process spends its time there. It also gives each
    receiver its own `deepcopy` of the message, several times the cost of a msgpack round trip, and starts a
    task per receiver of a group message. Here a group message is packed once and each receiver unpacks its
    own copy, so what one consumer does to it reaches no other, and a message Redis could not carry (a tuple
    read back as a list, an object msgpack cannot pack) fails here too, not only once the site scales out.
    """

    sweep_interval = 1.0
    _swept_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.sweep_interval:
            return
        self._swept_at = now
        super()._clean_expired()

    def _put(self, channel: str, packed: bytes) -> None:
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, msgpack.unpackb(packed)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"  # Channels' own contract check
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, msgpack.packb(message))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        packed = msgpack.packb(message)
        for channel in list(self.groups.get(group, ())):
            try:
                self._put(channel, packed)
            except ChannelFull:
                pass  # as Channels' layer does: a full receiver misses this one, the others still get it


# One trip for every receiving Redis key of a group message: drop its expired messages, then add this one
# unless the channel is full (channels_redis's script, with its separate expiry pipeline folded in).
_GROUP_SEND_LUA = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
local expired_before = math.floor(tonumber(current_time)) - tonumber(expiry)
for i=1,#KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, expired_before)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class RedisChannelLayer(channels_redis.core.RedisChannelLayer):
    """channels_redis's core layer, with a group send of two trips to Redis instead of four, and one reader per
    process for its sockets' messages.

    Its group send reads the group in two commands and cleans the receivers' expired messages in a trip of its
    own before the script that adds the message; a turn sends a handful of group messages, so those trips were a
    good part of what a turn cost on Redis. Here the group is read in one pipelined trip and the cleaning runs
    in the script: the same keys, the same expiry and capacity, the same messages.

    Every socket of a process receives from one Redis key. channels_redis lets whichever socket is waiting
    pop that key for all of them, so a socket that closes while its pop is in flight takes another socket's
    message with it: Redis has handed the message over, and the cancelled read drops it (a tab left showing
    "Working…" after its run ended). Here a task of the layer's own pops the key and hands each message to its
    socket's queue; a socket's receive only waits on that queue, and nothing it cancels loses a message.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reader: asyncio.Task | None = None
        self.receiving: set[str] = set()  # the channels a socket is waiting on now

    async def receive(self, channel: str) -> dict[str, Any]:
        if "!" not in channel:
            return await super().receive(channel)
        assert self.require_valid_channel_name(channel)
        loop = asyncio.get_running_loop()
        if self.reader is None or self.reader.done() or self.reader.get_loop() is not loop:
            self.reader = loop.create_task(self._read(self.non_local_name(channel)), name="channel-layer-reader")
        buffer = self.receive_buffer[channel]
        self.receiving.add(channel)
        try:
            while True:
                expires, message = await buffer.get()
                if expires > time.time():  # as in Redis, a message nobody read within the expiry is gone
                    return message
        finally:
            self.receiving.discard(channel)
            if buffer.empty() and self.receive_buffer.get(channel) is buffer:
                del self.receive_buffer[channel]

    async def _read(self, process_channel: str) -> None:
        """Pop this process's messages for good, each into the queue of the socket it is for."""
        swept = time.monotonic()
        while True:
            try:
                to, message = await self.receive_single(process_channel)
            except Exception:
                logger.warning("Receiving from the channel layer failed; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            expires = time.time() + self.expiry
            for channel in to if isinstance(to, list) else [to]:
                self.receive_buffer[channel].put_nowait((expires, message))
            if time.monotonic() - swept > self.expiry:
                swept = time.monotonic()
                self._sweep()

    def _sweep(self) -> None:
        """Forget the queues of sockets that stopped receiving once all they hold has expired."""
        now = time.time()
        for channel, buffer in list(self.receive_buffer.items()):
            if channel not in self.receiving and all(expires <= now for expires, _ in buffer._queue):
                del self.receive_buffer[channel]

    async def close_pools(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await super().close_pools()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        async with connection.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
            pipe.zrange(key, 0, -1)
            _, members = await pipe.execute()
        channels = [member.decode("utf8") for member in members]
        by_connection, messages, capacities = self._map_channel_keys_to_connection(channels, message)
        for index, keys in by_connection.items():
            args = [*(messages[k] for k in keys), *(capacities[k] for k in keys), time.time(), self.expiry]
            over = await self.connection(index).eval(_GROUP_SEND_LUA, len(keys), *keys, *args)
            if over > 0:
                logger.info("%s of %s channels over capacity in group %s", over, len(channels), group)
