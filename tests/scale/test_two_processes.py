"""Two Daphne processes on one PostgreSQL and one Redis behave as one server.

Runs only where the CI's second pass offers the services (DATABASE_URL=postgres://…, REDIS_URL=redis://…).
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
import redis

from tests.live import daphne, postgres_database, redis_url_isolated, services_available, site_create
from tests.scale.live_client import TERMINAL, chat_setup, chat_socket, collect_until, run_row, send

pytestmark = [
    pytest.mark.skipif(
        not services_available(), reason="needs PostgreSQL and Redis: set DATABASE_URL=postgres://… and REDIS_URL"
    ),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with postgres_database() as database_url:
        redis_url = redis_url_isolated()
        site = site_create(
            tmp_path_factory.mktemp("cluster"),
            database_url=database_url,
            redis_url=redis_url,
            # Persistent connections, as a production deployment would keep them.
            env={"CONN_MAX_AGE": "60"},
        )
        with psycopg.connect(database_url, autocommit=True) as connection:
            # draw_dash waits for the user's approval, so approval can be tested across processes.
            connection.execute(
                "UPDATE mcp_servers_mcpserver SET approval = 'listed', approval_tools = '[\"draw_dash\"]'::jsonb"
            )
        with daphne(site, name="a") as a, daphne(site, name="b") as b:
            yield site, a, b, redis_url


def _events(frames: list[dict]) -> list[str]:
    # Each client also sees its own error frames and pongs; the run's stream is what must match.
    return [f["event"] for f in frames if f["event"].startswith("thread.")]


async def test_it_streams_one_run_to_clients_on_both_processes_and_runs_it_once(cluster):
    site, a, b, _ = cluster
    cookie, thread_id = chat_setup(a, site, "alice")
    async with chat_socket(a, cookie, thread_id) as on_a, chat_socket(b, cookie, thread_id) as on_b:
        await send(on_b, {"type": "message.create", "content": "hello from b"})
        frames_a, frames_b = await asyncio.gather(collect_until(on_a, *TERMINAL), collect_until(on_b, *TERMINAL))

    assert frames_a[-1]["event"] == "thread.run.completed"
    assert _events(frames_a) == _events(frames_b)
    deltas = [f["data"] for f in frames_a if f["event"] == "thread.message.delta"]
    assert deltas == [f["data"] for f in frames_b if f["event"] == "thread.message.delta"]
    run_id = frames_a[-1]["data"]["id"]
    assert f":{b.process.pid}:" in run_row(site, run_id)["worker"]


async def test_it_cancels_a_run_from_the_process_that_does_not_own_it(cluster):
    site, a, b, _ = cluster
    cookie, thread_id = chat_setup(a, site, "alice")
    async with chat_socket(a, cookie, thread_id) as on_a, chat_socket(b, cookie, thread_id) as on_b:
        await send(on_a, {"type": "message.create", "content": '/wait {"seconds": 30}'})
        frames = await collect_until(on_b, "thread.run.step.in_progress")
        run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
        await send(on_b, {"type": "run.cancel", "run_id": run_id})
        ends = await asyncio.gather(collect_until(on_a, *TERMINAL), collect_until(on_b, *TERMINAL))

    assert [frames[-1]["event"] for frames in ends] == ["thread.run.cancelled"] * 2
    row = run_row(site, run_id)
    assert row["status"] == "cancelled" and f":{a.process.pid}:" in row["worker"]


async def test_it_resumes_a_run_approved_on_the_other_process(cluster):
    site, a, b, _ = cluster
    cookie, thread_id = chat_setup(a, site, "alice")
    async with chat_socket(a, cookie, thread_id) as on_a, chat_socket(b, cookie, thread_id) as on_b:
        await send(on_a, {"type": "message.create", "content": "/draw_dash {}"})
        paused = (await collect_until(on_b, "thread.run.requires_action"))[-1]["data"]
        call_id = paused["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        await send(on_b, {"type": "run.approve", "run_id": paused["id"], "tool_call_id": call_id})
        ends = await asyncio.gather(collect_until(on_a, *TERMINAL), collect_until(on_b, *TERMINAL))

    assert [frames[-1]["event"] for frames in ends] == ["thread.run.completed"] * 2
    assert run_row(site, paused["id"])["status"] == "completed"


async def test_it_survives_redis_dropping_every_connection_mid_stream(cluster):
    site, a, b, redis_url = cluster
    cookie, thread_id = chat_setup(a, site, "alice")
    async with chat_socket(a, cookie, thread_id) as on_a:
        await send(on_a, {"type": "message.create", "content": '/wait {"seconds": 2}'})
        frames = await collect_until(on_a, "thread.run.step.in_progress")
        run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
        client = redis.Redis.from_url(redis_url)
        try:
            # Only the live servers' connections (their own database number), not the suite's.
            ours = [c["id"] for c in client.client_list() if c.get("db") == redis_url.rsplit("/", 1)[1]]
            for client_id in ours:
                client.client_kill_filter(_id=client_id)
        finally:
            client.close()
        async with asyncio.timeout(30):
            while run_row(site, run_id)["status"] not in ("completed", "failed", "expired", "cancelled"):
                await asyncio.sleep(0.2)  # frames sent while Redis was away are lost; the row is the truth
    assert run_row(site, run_id)["status"] == "completed"

    async with chat_socket(a, cookie, thread_id) as on_a, chat_socket(b, cookie, thread_id) as on_b:
        await send(on_b, {"type": "message.create", "content": "after the outage"})
        ends = await asyncio.gather(collect_until(on_a, *TERMINAL), collect_until(on_b, *TERMINAL))
    assert [frames[-1]["event"] for frames in ends] == ["thread.run.completed"] * 2


async def test_it_survives_postgresql_dropping_the_servers_connections_mid_run(cluster):
    site, a, b, _ = cluster
    cookie, thread_id = chat_setup(a, site, "alice")
    database_url = site.env["DATABASE_URL"]
    async with chat_socket(a, cookie, thread_id) as on_a:
        await send(on_a, {"type": "message.create", "content": '/wait {"seconds": 1}'})
        frames = await collect_until(on_a, "thread.run.step.in_progress")
        run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
        with psycopg.connect(database_url, autocommit=True) as connection:
            dropped = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert dropped, "the servers should have had connections open"
        ending = (await collect_until(on_a, *TERMINAL))[-1]

    assert ending["event"] in ("thread.run.completed", "thread.run.failed"), ending
    if ending["event"] == "thread.run.failed":
        assert ending["data"]["last_error"]["code"] == "database_unavailable"
    assert run_row(site, run_id)["status"] == ending["event"].rsplit(".", 1)[1]
    async with chat_socket(b, cookie, thread_id) as on_b:
        await send(on_b, {"type": "message.create", "content": "after the drop"})
        after = await collect_until(on_b, *TERMINAL)
    assert after[-1]["event"] == "thread.run.completed"


async def test_it_tells_a_page_on_the_surviving_process_when_the_owner_of_its_run_dies(cluster):
    """The owner of a run is killed (kill -9): the other process expires the run and says so on the open socket,
    so the page stops showing "Working…" without a reload."""
    site, a, _, _ = cluster
    fast = {"RUN_HEARTBEAT_SECONDS": "0.5", "RUN_STALE_SECONDS": "3"}
    cookie, thread_id = chat_setup(a, site, "alice")
    with daphne(site, name="owner", env=fast) as owner, daphne(site, name="survivor", env=fast) as survivor:
        async with chat_socket(survivor, cookie, thread_id) as watching:
            async with chat_socket(owner, cookie, thread_id) as on_owner:
                await send(on_owner, {"type": "message.create", "content": '/wait {"seconds": 60}'})
                frames = await collect_until(watching, "thread.run.step.in_progress")
                run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
                assert f":{owner.process.pid}:" in run_row(site, run_id)["worker"]
                owner.process.kill()
                owner.process.wait()
            ending = await collect_until(watching, *TERMINAL)

    assert ending[-1]["event"] == "thread.run.expired" and ending[-1]["data"]["id"] == run_id
    assert ending[-1]["data"]["last_error"]["code"] == "expired"
    assert run_row(site, run_id)["status"] == "expired"
