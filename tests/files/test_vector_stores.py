"""Vector stores over the API: their files and batches, the counts that move as files are indexed in the
background, and the refusals that change nothing."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from core.tokens import token_create
from files.indexing import entry_index, indexing_idle, indexing_resume
from files.models import Chunk, File, VectorStore, VectorStoreFile
from files.services import file_create, vector_store_create
from files.services.vector_stores import _batch_create
from tests.files.conftest import docx_bytes, pdf_bytes, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


class Api:
    def __init__(self, user) -> None:
        self.client = AsyncClient()
        self.headers = {"Authorization": f"Bearer {token_create(user=user, name='test')[1]}"}

    async def get(self, path: str, **query):
        return await self.client.get(f"/v1/{path}", query, headers=self.headers)

    async def post(self, path: str, body=None):
        data = json.dumps(body or {})
        return await self.client.post(f"/v1/{path}", data, content_type="application/json", headers=self.headers)

    async def delete(self, path: str):
        return await self.client.delete(f"/v1/{path}", headers=self.headers)


@pytest.fixture
async def alice_api(alice):
    return await sync_to_async(Api)(alice)


@pytest.fixture
async def bob_api(bob):
    return await sync_to_async(Api)(bob)


async def _file(user, name: str, data: bytes | str) -> File:
    return await sync_to_async(file_create)(user=user, upload=upload(name, data), purpose="assistants")


async def test_it_indexes_a_stores_files_in_the_background(alice, alice_api):
    text = await _file(alice, "launch.md", "The launch window opens on Tuesday at dawn.")
    pdf = await _file(alice, "reactor.pdf", pdf_bytes("The reactor runs on thorium salts"))
    response = await alice_api.post("vector_stores", {"name": "Docs", "file_ids": [text.pk, pdf.pk]})
    assert response.status_code == 200, response.content
    store = response.json()
    assert store["object"] == "vector_store" and store["id"].startswith("vs_")
    assert store["status"] == "in_progress"
    assert store["file_counts"] == {"in_progress": 2, "completed": 0, "failed": 0, "cancelled": 0, "total": 2}
    await indexing_idle()
    store = (await alice_api.get(f"vector_stores/{store['id']}")).json()
    assert store["status"] == "completed"
    assert store["file_counts"]["completed"] == 2
    assert store["usage_bytes"] > 0
    entry = (await alice_api.get(f"vector_stores/{store['id']}/files/{pdf.pk}")).json()
    assert entry["object"] == "vector_store.file" and entry["status"] == "completed"
    assert entry["chunking_strategy"] == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    }
    assert await Chunk.objects.filter(file=pdf, text__contains="thorium").aexists()


async def test_it_ends_a_file_it_cannot_read_failed_with_its_error(alice, alice_api):
    broken = await _file(alice, "broken.pdf", b"%PDF-1.4\nno objects here at all")
    store = (await alice_api.post("vector_stores", {})).json()
    entry = (await alice_api.post(f"vector_stores/{store['id']}/files", {"file_id": broken.pk})).json()
    assert entry["status"] == "in_progress"
    await indexing_idle()
    entry = (await alice_api.get(f"vector_stores/{store['id']}/files/{broken.pk}")).json()
    assert entry["status"] == "failed"
    assert entry["last_error"]["code"] == "invalid_file"
    assert "PDF" in entry["last_error"]["message"]
    store = (await alice_api.get(f"vector_stores/{store['id']}")).json()
    assert store["file_counts"]["failed"] == 1 and store["status"] == "completed"


async def test_it_indexes_a_batch_and_lists_its_files(alice, alice_api):
    files = [await _file(alice, f"n{i}.txt", f"note number {i}") for i in range(3)]
    files.append(await _file(alice, "w.docx", docx_bytes("A word document")))
    store = (await alice_api.post("vector_stores", {"name": "Batch"})).json()
    batch = await alice_api.post(f"vector_stores/{store['id']}/file_batches", {"file_ids": [f.pk for f in files]})
    batch = batch.json()
    assert batch["object"] == "vector_store.files_batch" and batch["file_counts"]["total"] == 4
    await indexing_idle()
    batch = (await alice_api.get(f"vector_stores/{store['id']}/file_batches/{batch['id']}")).json()
    assert batch["status"] == "completed" and batch["file_counts"]["completed"] == 4
    listed = (await alice_api.get(f"vector_stores/{store['id']}/file_batches/{batch['id']}/files", limit=2)).json()
    assert [e["id"] for e in listed["data"]] == [files[3].pk, files[2].pk] and listed["has_more"]
    more = await alice_api.get(
        f"vector_stores/{store['id']}/file_batches/{batch['id']}/files", limit=2, after=listed["last_id"]
    )
    assert [e["id"] for e in more.json()["data"]] == [files[1].pk, files[0].pk]
    completed = (await alice_api.get(f"vector_stores/{store['id']}/files", filter="completed")).json()
    assert len(completed["data"]) == 4


async def test_it_cancels_a_batch_not_yet_indexed(alice, alice_api):
    file = await _file(alice, "a.txt", "alpha beta")
    store = (await alice_api.post("vector_stores", {})).json()
    # Stored but not yet started, as a batch waiting for its turn is.
    batch, entry_ids = await sync_to_async(_batch_create)(
        user=alice, vector_store_id=store["id"], file_ids=[file.pk], chunking_strategy=None
    )
    cancelled = (await alice_api.post(f"vector_stores/{store['id']}/file_batches/{batch.pk}/cancel")).json()
    assert cancelled["status"] == "cancelled"
    assert await sync_to_async(entry_index)(entry_ids[0]) == "cancelled"
    assert (await VectorStoreFile.objects.aget(file=file)).status == "cancelled"
    assert not await Chunk.objects.filter(file=file).aexists()


async def test_it_finishes_indexing_after_a_restart(alice):
    file = await _file(alice, "left.txt", "left in progress by a process that stopped")
    store = await VectorStore.objects.acreate(owner=alice)
    entry = await VectorStoreFile.objects.acreate(vector_store=store, file=file, chunking_strategy={})
    assert await indexing_resume() == 1
    await indexing_idle()
    await entry.arefresh_from_db()
    assert entry.status == "completed"
    assert await Chunk.objects.filter(entry=entry).acount() == 1


async def test_it_modifies_and_deletes_a_store(alice, alice_api):
    store = (await alice_api.post("vector_stores", {"name": "Old", "metadata": {"k": "v"}})).json()
    changed = await alice_api.post(
        f"vector_stores/{store['id']}", {"name": "New", "expires_after": {"anchor": "last_active_at", "days": 2}}
    )
    body = changed.json()
    assert body["name"] == "New" and body["metadata"] == {"k": "v"}
    assert body["expires_after"] == {"anchor": "last_active_at", "days": 2}
    assert body["expires_at"] == body["last_active_at"] + 2 * 86400
    listed = (await alice_api.get("vector_stores")).json()
    assert [s["id"] for s in listed["data"]] == [store["id"]]
    deleted = (await alice_api.delete(f"vector_stores/{store['id']}")).json()
    assert deleted == {"id": store["id"], "object": "vector_store.deleted", "deleted": True}
    assert not await VectorStore.objects.aexists()


async def test_it_shows_an_expired_store_as_expired(alice, alice_api):
    from datetime import timedelta

    from django.utils import timezone

    store = await VectorStore.objects.acreate(
        owner=alice, expires_after={"anchor": "last_active_at", "days": 1}, last_active_at=timezone.now() - timedelta(2)
    )
    assert (await alice_api.get(f"vector_stores/{store.pk}")).json()["status"] == "expired"


async def test_it_removes_a_deleted_file_from_its_stores(alice, alice_api):
    file = await _file(alice, "a.txt", "alpha beta")
    store = (await alice_api.post("vector_stores", {"file_ids": [file.pk]})).json()
    await indexing_idle()
    assert (await alice_api.delete(f"files/{file.pk}")).status_code == 200
    store = (await alice_api.get(f"vector_stores/{store['id']}")).json()
    assert store["file_counts"]["total"] == 0
    assert not await Chunk.objects.aexists()


async def test_it_hides_another_users_store_and_refuses_their_files(alice, bob, alice_api, bob_api):
    file = await _file(alice, "a.txt", "alpha")
    store = (await alice_api.post("vector_stores", {})).json()
    assert (await bob_api.get(f"vector_stores/{store['id']}")).status_code == 404
    assert (await bob_api.delete(f"vector_stores/{store['id']}")).status_code == 404
    assert (await bob_api.get(f"vector_stores/{store['id']}/files")).status_code == 404
    bobs = (await bob_api.post("vector_stores", {})).json()
    refused = await bob_api.post(f"vector_stores/{bobs['id']}/files", {"file_id": file.pk})
    assert refused.status_code == 404
    refused = await bob_api.post("vector_stores", {"name": "x", "file_ids": [file.pk]})
    assert refused.status_code == 404
    assert await VectorStore.objects.filter(owner=bob).acount() == 1
    assert not await VectorStoreFile.objects.aexists()


@pytest.mark.parametrize(
    "body",
    [
        {"expires_after": {"anchor": "created_at", "days": 1}},
        {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}}},
        {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 9000, "chunk_overlap_tokens": 1}}},
        {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 200}}},
        {"file_ids": "file_1"},
        {"metadata": {"k": 1}},
        {"colour": "blue"},
    ],
)
async def test_it_refuses_a_bad_store_and_creates_nothing(alice_api, body):
    response = await alice_api.post("vector_stores", body)
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert not await VectorStore.objects.aexists()


async def test_it_takes_a_file_out_of_a_store_and_keeps_the_file(alice, alice_api):
    file = await _file(alice, "a.txt", "alpha beta")
    store = (await alice_api.post("vector_stores", {"file_ids": [file.pk]})).json()
    await indexing_idle()
    deleted = (await alice_api.delete(f"vector_stores/{store['id']}/files/{file.pk}")).json()
    assert deleted == {"id": file.pk, "object": "vector_store.file.deleted", "deleted": True}
    assert not await Chunk.objects.aexists()
    assert await File.objects.filter(pk=file.pk).aexists()
    assert (await alice_api.get(f"vector_stores/{store['id']}/files/{file.pk}")).status_code == 404


async def test_it_cuts_a_file_by_the_static_chunking_strategy_it_is_given(alice, alice_api):
    file = await _file(alice, "long.txt", " ".join(f"word{i}" for i in range(500)))
    store = (await alice_api.post("vector_stores", {})).json()
    strategy = {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 100}}
    entry = await alice_api.post(
        f"vector_stores/{store['id']}/files", {"file_id": file.pk, "chunking_strategy": strategy}
    )
    assert entry.json()["chunking_strategy"] == strategy
    await indexing_idle()
    texts = [chunk.text async for chunk in Chunk.objects.filter(file=file).order_by("index")]
    assert [len(text.split()) for text in texts] == [200, 200, 200, 200]
    assert texts[1].split()[0] == "word100"


async def test_it_refuses_a_batch_naming_another_users_file_and_adds_nothing(alice, bob, alice_api, bob_api):
    mine = await _file(bob, "b.txt", "bob's")
    theirs = await _file(alice, "a.txt", "alice's")
    store = (await bob_api.post("vector_stores", {})).json()
    refused = await bob_api.post(f"vector_stores/{store['id']}/file_batches", {"file_ids": [mine.pk, theirs.pk]})
    assert refused.status_code == 404
    assert not await VectorStoreFile.objects.aexists()


async def test_it_does_not_search_an_expired_store(alice):
    from datetime import timedelta

    from django.utils import timezone

    from files.services import vector_store_search

    file = await _file(alice, "a.txt", "thorium reactor")
    store = await vector_store_create(
        user=alice, file_ids=[file.pk], expires_after={"anchor": "last_active_at", "days": 1}
    )
    await indexing_idle()
    search = sync_to_async(vector_store_search)
    assert len(await search(user_id=alice.pk, vector_store_ids=[store.pk], query="thorium")) == 1
    await VectorStore.objects.filter(pk=store.pk).aupdate(last_active_at=timezone.now() - timedelta(days=2))
    assert await search(user_id=alice.pk, vector_store_ids=[store.pk], query="thorium") == []
