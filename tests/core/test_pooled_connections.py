"""Threads outside a request's own give their PostgreSQL pool connections back: the error page of an async view
renders on the event loop's default executor (Django's `sync_to_async(thread_sensitive=False)`), and the run
executor's beat runs there too. Before, each such thread kept a connection checked out for its whole life."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient

from chat.models import Conversation
from core.database import ConnectionReturningExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def _checked_out() -> int:
    stats = connection.pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


def _settled_at(count: int) -> int:
    """The checked-out count once it is back at `count`, or after 3 s: a connection lost stays out for good,
    while another thread of this worker (the trace writer, a beat) may hold one for a moment at any time."""
    deadline = time.monotonic() + 3.0
    while (now := _checked_out()) != count and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


@pytest.fixture
def pooled(db):
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("only PostgreSQL connections come from a pool")


async def test_an_async_views_error_pages_give_their_connections_back(pooled, alice, bob):
    conversation = await Conversation.objects.acreate(owner=alice)
    client = AsyncClient()
    await sync_to_async(client.force_login)(bob)
    before = await sync_to_async(_checked_out)()
    # More 404s, each rendered in the layout (session, user, theme: database reads), than the pool holds.
    for number in range(connection.settings_dict["OPTIONS"]["pool"]["max_size"] + 5):
        response = await client.get(f"/conversations/{conversation.pk}/steps/step_{number}/app")
        assert response.status_code == 404
    assert await sync_to_async(_settled_at)(before) == before


def test_the_executor_returns_each_threads_connection_after_each_call(pooled):
    def query() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return connection.connection is not None

    before = _checked_out()
    with ConnectionReturningExecutor(max_workers=4) as executor:
        assert all(executor.map(lambda _: query(), range(20)))  # each call had its connection while it ran
        assert asyncio.run(_in_loop(executor, query))
    assert _settled_at(before) == before


async def _in_loop(executor: ConnectionReturningExecutor, query) -> bool:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(executor)
    return await asyncio.to_thread(query)
