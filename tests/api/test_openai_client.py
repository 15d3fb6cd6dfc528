"""The acceptance bar: the official `openai` client, unchanged, against a live Switchboard.

A Daphne subprocess serves its own SQLite database (see tests/live.py); the client points its base_url at
/v1 with a personal token and uses the beta Assistants namespace as it would against OpenAI.
"""

from __future__ import annotations

import time

import openai
import pytest

from tests.live import Site, site_create

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return site_create(tmp_path_factory.mktemp("switchboard-api"))


@pytest.fixture(scope="module")
def assistant(client: openai.OpenAI):
    return client.beta.assistants.create(
        model="offline", name="Live", instructions="Be brief.", tools=[{"type": "mcp", "server_label": "demo"}]
    )


def test_it_creates_an_assistant_on_the_offline_provider(client, assistant):
    assert assistant.id.startswith("asst_") and assistant.model == "offline"
    assert [tool.model_dump() for tool in assistant.tools] == [{"type": "mcp", "server_label": "demo"}]
    assert client.beta.assistants.retrieve(assistant.id).name == "Live"


def test_it_runs_a_thread_with_create_and_poll(client, assistant):
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content='/add {"a": 2, "b": 3}')

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)

    assert run.status == "completed"
    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    assert "5" in messages[1].content[0].text.value
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].function.output == "5"


def test_it_streams_a_run(client, assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "stream me"}])

    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        text = "".join(stream.text_deltas)
        run = stream.get_final_run()

    assert run.status == "completed"
    assert "stream me" in text


def test_it_streams_with_create_stream_true(client, assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "raw events"}])
    events = [
        event.event for event in client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, stream=True)
    ]
    assert events[0] == "thread.run.created"
    assert "thread.message.delta" in events
    assert events[-1] == "thread.run.completed"


def test_it_cancels_a_run(client, assistant):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": '/wait {"seconds": 30}'}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    deadline = time.monotonic() + 30
    # The run is on the server; a client has nothing to await but the run's status.
    while run.status == "queued" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)

    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)

    assert cancelled.status in ("cancelling", "cancelled")
    assert client.beta.threads.runs.poll(run.id, thread_id=thread.id).status == "cancelled"


def test_it_raises_the_clients_own_errors(client, assistant):
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve("thread_missing")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.create(extra_body={"colour": "red"})
    assert caught.value.body["param"] == "colour"
