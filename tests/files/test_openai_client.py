"""Files, vector stores and file_search through the official `openai` client, unchanged, against a live
Switchboard; the offline model searches with `/file_search <words>`, so none of this needs a key."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import openai
import pytest

from tests.files.conftest import pdf_bytes
from tests.live import Server, Site, daphne, site_create

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return site_create(tmp_path_factory.mktemp("switchboard-files"))


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    with daphne(site) as server:
        yield server


@pytest.fixture(scope="module")
def client(site: Site, server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=site.tokens["alice"], max_retries=0, timeout=60)


def _named(name: str, data: bytes) -> tuple[str, io.BytesIO]:
    return (name, io.BytesIO(data))


def test_it_answers_from_uploaded_files_with_the_openai_client(client: openai.OpenAI):
    manual = client.files.create(
        file=_named("manual.pdf", pdf_bytes("The pump must be primed with distilled water before its first start.")),
        purpose="assistants",
    )
    assert manual.filename == "manual.pdf" and manual.purpose == "assistants"
    assert client.files.content(manual.id).read().startswith(b"%PDF-")
    store = client.vector_stores.create(name="Manuals", expires_after={"anchor": "last_active_at", "days": 7})
    batch = client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=store.id,
        files=[_named("notes.md", b"# Notes\nThe warranty lasts three years from the date of purchase.")],
        poll_interval_ms=100,
    )
    assert batch.status == "completed" and batch.file_counts.completed == 1
    added = client.vector_stores.files.create_and_poll(
        vector_store_id=store.id, file_id=manual.id, poll_interval_ms=100
    )
    assert added.status == "completed"
    uploaded = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=_named("broken.pdf", b"%PDF-1.4\nnothing readable"), poll_interval_ms=100
    )
    assert uploaded.status == "failed" and uploaded.last_error.code == "invalid_file"
    store = client.vector_stores.retrieve(store.id)
    assert store.status == "completed"
    assert (store.file_counts.completed, store.file_counts.failed, store.file_counts.total) == (2, 1, 3)

    assistant = client.beta.assistants.create(
        model="offline",
        name="Manuals",
        tools=[{"type": "file_search", "file_search": {"max_num_results": 3}}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    assert assistant.tools[0].type == "file_search"
    assert assistant.tool_resources.file_search.vector_store_ids == [store.id]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "/file_search prime the pump"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=100)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(
        thread_id=thread.id, run_id=run.id, include=["step_details.tool_calls[*].file_search.results[*].content"]
    )
    (call,) = [step.step_details.tool_calls[0] for step in steps.data if step.type == "tool_calls"]
    assert call.type == "file_search"
    assert call.file_search.results[0].file_id == manual.id and call.file_search.results[0].file_name == "manual.pdf"
    assert "distilled water" in call.file_search.results[0].content[0].text
    assert call.file_search.ranking_options.ranker == "default_2024_08_21"
    plain = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id)
    (call,) = [step.step_details.tool_calls[0] for step in plain.data if step.type == "tool_calls"]
    assert call.file_search.results[0].file_id == manual.id and not call.file_search.results[0].content
    answer = client.beta.threads.messages.list(thread_id=thread.id, order="desc").data[0]
    text = answer.content[0].text
    assert "distilled water" in text.value
    cited = [note for note in text.annotations if note.type == "file_citation"]
    assert cited and cited[0].file_citation.file_id == manual.id
    assert text.value[cited[0].start_index : cited[0].end_index] == cited[0].text

    client.files.delete(manual.id)
    remaining = client.vector_stores.files.list(vector_store_id=store.id)
    assert manual.id not in [entry.id for entry in remaining.data]
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(manual.id)


def test_it_searches_a_messages_attachments_with_the_openai_client(site: Site, server: Server, client: openai.OpenAI):
    notes = client.files.create(
        file=_named("notes.md", b"# Notes\nThe warranty lasts three years from the date of purchase."),
        purpose="assistants",
    )
    assistant = client.beta.assistants.create(model="offline", tools=[{"type": "file_search"}])
    # As OpenAI's file_search quickstart does it: the file attached to the thread's first message.
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "/file_search warranty years",
                "attachments": [{"file_id": notes.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    (store_id,) = client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=100)
    assert run.status == "completed", run.last_error
    answer = client.beta.threads.messages.list(thread_id=thread.id, order="desc").data[0]
    assert [note.file_citation.file_id for note in answer.content[0].text.annotations] == [notes.id]
    assert client.vector_stores.files.list(vector_store_id=store_id).data[0].id == notes.id

    bob = openai.OpenAI(base_url=f"{server.url}/v1", api_key=site.tokens["bob"], max_retries=0, timeout=60)
    with pytest.raises(openai.BadRequestError):
        bob.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    with pytest.raises(openai.NotFoundError):
        bob.beta.threads.messages.create(
            thread_id=bob.beta.threads.create().id,
            role="user",
            content="look",
            attachments=[{"file_id": notes.id, "tools": [{"type": "file_search"}]}],
        )


# A file added to a store by a process that stopped before indexing it: stored, in progress, no task.
LEFT_IN_PROGRESS = """
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from files.models import VectorStore, VectorStoreFile
from files.services import file_create
alice = get_user_model().objects.get(username="alice")
file = file_create(user=alice, upload=SimpleUploadedFile("left.txt", b"left behind by a restart"), purpose="assistants")
store = VectorStore.objects.create(owner=alice, name="Left")
VectorStoreFile.objects.create(vector_store=store, file=file, chunking_strategy={})
print(store.pk)
"""


def test_it_finishes_indexing_left_by_a_stopped_server(tmp_path):
    site = site_create(tmp_path)
    store_id = site.manage("shell", "-c", LEFT_IN_PROGRESS).strip().splitlines()[-1]
    with daphne(site) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=site.tokens["alice"], max_retries=0, timeout=60)
        deadline = time.monotonic() + 30
        while (store := client.vector_stores.retrieve(store_id)).status == "in_progress":
            assert time.monotonic() < deadline, "the file left in progress was not indexed"
            time.sleep(0.1)
    assert store.status == "completed" and store.file_counts.completed == 1


def test_it_hides_one_users_files_from_another(site: Site, server: Server, client: openai.OpenAI):
    bob = openai.OpenAI(base_url=f"{server.url}/v1", api_key=site.tokens["bob"], max_retries=0, timeout=60)
    file = client.files.create(file=_named("secret.txt", b"alice only"), purpose="assistants")
    store = client.vector_stores.create(name="Alice's", file_ids=[file.id])
    with pytest.raises(openai.NotFoundError):
        bob.files.content(file.id)
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.retrieve(store.id)
    with pytest.raises(openai.BadRequestError):
        bob.beta.assistants.create(
            model="offline",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
    deadline = time.monotonic() + 30
    while client.vector_stores.retrieve(store.id).status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 1
