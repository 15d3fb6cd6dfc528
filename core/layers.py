"""The in-process channel layer, made to hold up under a thousand open sockets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgpack
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer


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
