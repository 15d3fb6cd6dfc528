from __future__ import annotations

import asyncio
import inspect
import os
import sys
import time
from types import SimpleNamespace

import pytest
from agents import flush_traces
from asgiref.sync import SyncToAsync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string

from assistants.models import Assistant, Provider
from chat.executor import get_executor
from core import ratelimit
from core.database import ConnectionReturningExecutor
from mcp_servers.models import MCPServer
from observability import processor
from tests.live import redis_url_for


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets a Redis database number of its own, as it gets a test database of
    its own: the cache counts limits per user id, and every worker's alice has the same id."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or not settings.REDIS_URL:
        return
    url = redis_url_for(settings.REDIS_URL, int(worker.removeprefix("gw")))
    os.environ["REDIS_URL"] = url
    settings.REDIS_URL = url
    settings.CACHES["default"]["LOCATION"] = url
    for host in settings.CHANNEL_LAYERS[DEFAULT_CHANNEL_LAYER]["CONFIG"]["hosts"]:
        host["address"] = url


@pytest.fixture(scope="session", autouse=True)
def _close_async_connections(django_db_setup, django_db_blocker):
    """Close connections the async ORM opened in its worker thread, so the test database can be dropped."""
    yield
    with django_db_blocker.unblock():
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()


async def _tick() -> None:
    while True:
        await asyncio.sleep(0.05)


@pytest.fixture
async def _loop_quiet():
    """Stop what an async test's event loop started (MCP connections, the run executor's background tasks)
    before the loop closes.

    Left to the loop's own teardown, which cancels every task at once and then only waits, the shutdown
    sometimes stalled for good: a wake-up from a helper thread went unnoticed by an otherwise idle loop.
    A ticking task keeps the loop looking, as Daphne's own timers do in a server.

    The loop's default executor is the server's (config.process): its threads give pooled connections back.
    """
    asyncio.get_running_loop().set_default_executor(ConnectionReturningExecutor())
    yield
    ticker = asyncio.ensure_future(_tick())
    try:
        await asyncio.wait_for(get_executor().shutdown(0), timeout=60)
        # Traces are stored from a thread of their own: finish before the test database is flushed, which
        # an in-memory SQLite database refuses while another connection writes.
        await asyncio.wait_for(asyncio.to_thread(flush_traces), timeout=60)
    finally:
        ticker.cancel()
        _redis_layer_forget()


def _redis_layer_forget() -> None:
    """The next test's loop gets a Redis channel layer of its own. channels_redis keeps asyncio locks on the
    layer object, bound to the loop that first waited on them; in a server there is one loop for good, but
    each test has its own, and a lock a closed loop left behind would refuse the next one."""
    if issubclass(import_string(settings.CHANNEL_LAYERS[DEFAULT_CHANNEL_LAYER]["BACKEND"]), RedisChannelLayer):
        channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


@pytest.fixture
def _traces_stored(monkeypatch):
    """Store a sync test's traces when it asks (`flush_traces`) or when it ends, never in the middle of it.

    A sync test's requests write to the in-memory SQLite database from this thread; the trace writer writes from
    the async ORM's thread, and on that database one of two writers at once fails at once ("database table is
    locked") instead of waiting. So the writer's timer is put off for the test (a flush still stores at once),
    and what the test's runs left queued is stored before the next test starts.
    """
    monkeypatch.setattr(processor, "BATCH_SECONDS", 3600.0)
    flush_traces()  # the writer's next wait takes the longer interval
    yield
    flush_traces()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # Appended last: set up after the database, so torn down before it is flushed.
        if inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.fixturenames.append("_loop_quiet")
        else:
            item.fixturenames.append("_traces_stored")


@pytest.fixture(autouse=True)
def _limits_off(settings, monkeypatch):
    """Fairness limits are off unless a test turns one on; the tests that do also check the refusal."""
    # Rates count in fixed one-minute windows: a test that ran across the turn of a minute saw its count start
    # again and its refusal never come. Each test holds the limiter's clock where the test started.
    started = time.time()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: started))
    # A real password hash takes over a second here; tests only need passwords to be checkable.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The offline model answers at once; tests/chat/test_ux_pacing.py checks its reading pace.
    settings.OFFLINE_STREAM_DELAY_MS = 0
    settings.SWITCHBOARD = {
        **settings.SWITCHBOARD,
        "RATE_MESSAGES_PER_MINUTE": 0,
        "RATE_API_PER_MINUTE": 0,
        "RUNS_CONCURRENT_PER_USER": 0,
        # Tests send many bad tokens from one address; tests/core/test_throttle.py turns it on.
        "TOKEN_FAILURE_LIMIT": 0,
    }


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user("charlie", password="charlie-password-1", is_staff=True)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


@pytest.fixture
def offline_provider(db):
    return Provider.objects.create(name="Offline", kind=Provider.Kind.OFFLINE, default_model="offline")


@pytest.fixture
def demo_server(db):
    return MCPServer.objects.create(
        name="demo",
        transport=MCPServer.Transport.STDIO,
        command=sys.executable,
        args=["-m", "mcp_servers.demo"],
        cwd=str(settings.BASE_DIR),
        call_timeout=10,
    )


@pytest.fixture
def demo_assistant(offline_provider, demo_server):
    assistant = Assistant.objects.create(name="Demo assistant", provider=offline_provider, instructions="Be brief.")
    assistant.mcp_servers.add(demo_server)
    return assistant
