"""Python 3.11's `asyncio.wait_for` can lose a cancellation: when the awaited operation finishes in the same
loop iteration as the cancel, it returns the result and the task runs on as if never cancelled. redis-py
awaits every socket write through it, so a cancelled channel-layer receive (a WebSocket closing, a process
shutting down) could carry on into its next blocking read and hold the layer's receive lock for good.
Python 3.12 rebuilt `wait_for` on `asyncio.timeout`, which keeps the cancellation; this is that version."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109 (the stdlib signature)
    if timeout is not None and timeout <= 0:
        future = asyncio.ensure_future(awaitable)
        if future.done():
            return future.result()
        future.cancel()
        try:
            await asyncio.gather(future, return_exceptions=True)
            return future.result()
        except asyncio.CancelledError as error:
            raise TimeoutError from error
    async with asyncio.timeout(timeout):
        return await awaitable


def wait_for_install() -> None:
    if sys.version_info < (3, 12):
        asyncio.wait_for = wait_for
        asyncio.tasks.wait_for = wait_for
