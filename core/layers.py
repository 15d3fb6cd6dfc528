"""The in-process channel layer, made to hold up under a thousand open sockets."""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer


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
