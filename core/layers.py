"""Channel layers that hold up under a thousand open sockets."""

from __future__ import annotations

import time
from typing import Any

from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class LocalChannelLayer(InMemoryChannelLayer):
    """The in-memory layer, sweeping expired messages at most once a second.

    Channels' own layer sweeps every channel and every group on each send and receive: with a
    thousand sockets each event costs thousands of steps, and a busy process spends its time there.
    """

    sweep_interval = 1.0
    _swept_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.sweep_interval:
            return
        self._swept_at = now
        super()._clean_expired()


class SharedChannelLayer(RedisChannelLayer):
    """The Redis layer, waiting for a free connection instead of failing when all are busy.

    redis-py's default pool raises MaxConnectionsError past 100 connections in use, which many
    runs broadcasting at once reach; a blocking pool queues them behind a bounded set instead.
    """

    def __init__(self, *args: Any, max_connections: int = 50, pool_timeout: float = 20, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout

    def create_pool(self, index: int) -> BlockingConnectionPool:
        host = dict(self.hosts[index])
        address = host.pop("address")
        return BlockingConnectionPool.from_url(
            address, max_connections=self.max_connections, timeout=self.pool_timeout, **host
        )
