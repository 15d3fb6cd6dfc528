"""`asyncio.wait_for` keeps a cancellation that arrives in the same loop iteration as the result."""

from __future__ import annotations

import asyncio

import pytest


async def test_wait_for_keeps_a_cancel_that_arrives_as_the_operation_finishes():
    operation = asyncio.get_running_loop().create_future()
    went_on = False

    async def caller():
        nonlocal went_on
        await asyncio.wait_for(operation, timeout=5)
        went_on = True

    task = asyncio.ensure_future(caller())
    await asyncio.sleep(0)  # the caller now waits on the operation
    operation.set_result("done")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not went_on


async def test_wait_for_still_times_out_and_returns_results():
    assert await asyncio.wait_for(asyncio.sleep(0, result=3), timeout=1) == 3
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.sleep(5), timeout=0.05)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.sleep(5), timeout=0)
