"""Open API streams do not hold PostgreSQL pool connections: a live Daphne with a pool of two connections streams
three runs at once (the official `openai` client) and still answers another request at once. Before, each stream
kept its request's connection until it ended: the third stream and the request waited for the first two."""

from __future__ import annotations

import threading
import time

import pytest

from tests.live import daphne, openai_client, postgres_database, services_available, site_create

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not services_available(), reason="needs PostgreSQL (DATABASE_URL): only it has a pool"),
]

STREAMS = 3


def test_streams_give_their_connections_back_to_a_small_pool(tmp_path):
    with postgres_database() as database_url:
        site = site_create(
            tmp_path,
            database_url=database_url,
            # The offline model's 35 events at 200 ms: each stream lasts about 7 s.
            env={"DATABASE_POOL_SIZE": "2", "OFFLINE_STREAM_DELAY_MS": "200", "RATE_MESSAGES_PER_MINUTE": "0"},
        )
        with daphne(site) as server:
            client = openai_client(site, server)
            assistant = client.beta.assistants.create(model="offline", name="Streamer")
            threads = [client.beta.threads.create(messages=[{"role": "user", "content": "hi"}]) for _ in range(STREAMS)]
            ended: dict[int, tuple[str, float]] = {}

            def stream(number: int) -> None:
                with client.beta.threads.runs.stream(thread_id=threads[number].id, assistant_id=assistant.id) as events:
                    for event in events:
                        if event.event.startswith("thread.run.") and event.data.status in ("completed", "failed"):
                            ended[number] = (event.data.status, time.monotonic())

            started = time.monotonic()
            workers = [threading.Thread(target=stream, args=(number,)) for number in range(STREAMS)]
            for worker in workers:
                worker.start()
            time.sleep(2)  # the streams are open
            asked = time.monotonic()
            assert assistant.id in [item.id for item in client.beta.assistants.list()]
            answered_in = time.monotonic() - asked
            for worker in workers:
                worker.join(timeout=60)

            assert {status for status, _ in ended.values()} == {"completed"} and len(ended) == STREAMS
            assert answered_in < 2, f"a request waited {answered_in:.1f} s behind the open streams"
            # Side by side, not one after another: the last ends soon after the first.
            finished = sorted(at - started for _, at in ended.values())
            assert finished[-1] - finished[0] < 3, finished
