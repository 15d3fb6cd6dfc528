"""The server process's own wiring: under Daphne, the run executor (and the indexing of files left in progress)
starts with the first connection and a SIGTERM waits for runs to finish before the reactor stops."""

from __future__ import annotations

import asyncio
import sys
import weakref
from typing import Any

from django.conf import settings

from chat.executor import Executor, get_executor
from core.database import ConnectionReturningExecutor
from files.indexing import indexing_start

_hooked: weakref.WeakSet[Executor] = weakref.WeakSet()


def running_reactor() -> Any:
    """Daphne's Twisted reactor, or None when not under Daphne (tests, management commands)."""
    reactor = sys.modules.get("twisted.internet.reactor")
    return reactor if reactor is not None and getattr(reactor, "running", False) else None


def process_start() -> None:
    """Beat, sweep and listen for cancels from the first connection on, and hook shutdown once."""
    reactor = running_reactor()
    if reactor is None:
        return  # not a server: runs start the executor's background work themselves
    executor = get_executor()
    executor.start()
    # Files a stopped process left half indexed are indexed again here.
    indexing_start()
    if executor in _hooked:
        return
    _hooked.add(executor)
    asyncio.get_running_loop().set_default_executor(ConnectionReturningExecutor())
    from twisted.internet.defer import Deferred

    grace = settings.SWITCHBOARD["SHUTDOWN_GRACE_SECONDS"]
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromFuture(asyncio.ensure_future(executor.shutdown(grace)))
    )
