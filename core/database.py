"""What the database lets other threads do."""

from __future__ import annotations

from django.db import connections


def database_single_threaded() -> bool:
    """Whether every write must go through one thread (the async ORM's).

    An in-memory SQLite database (the test database) shares one cache between connections and fails a second
    writer at once ("database table is locked") instead of waiting; a file database (WAL, busy timeout) and
    PostgreSQL let other threads write beside it.
    """
    connection = connections["default"]
    return connection.vendor == "sqlite" and connection.is_in_memory_db()
