"""What the database lets other threads do."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections, connections

T = TypeVar("T")


def database_single_threaded() -> bool:
    """Whether every write must go through one thread (the async ORM's).

    An in-memory SQLite database (the test database) shares one cache between connections and fails a second
    writer at once ("database table is locked") instead of waiting; a file database (WAL, busy timeout) and
    PostgreSQL let other threads write beside it.
    """
    connection = connections["default"]
    return connection.vendor == "sqlite" and connection.is_in_memory_db()


def call_returning_connections(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call `function`, then give back this thread's database connections (for a thread outside Django's own)."""
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()


class ConnectionReturningExecutor(ThreadPoolExecutor):
    """An event loop's default executor whose threads give their database connections back after each call.

    Django runs some sync code on these threads (`sync_to_async(thread_sensitive=False)`: the error page of an
    async view, with its session and user lookups). A connection opened there would otherwise stay checked out of
    the PostgreSQL pool for the thread's life, and a pool smaller than the executor would run dry. Where
    connections are kept (`CONN_MAX_AGE`, SQLite), `close_old_connections` keeps them too.
    """

    def submit(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(call_returning_connections, function, *args, **kwargs)
