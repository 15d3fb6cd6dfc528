"""File search with an embedding model: chunks are embedded as they are indexed (by a local server speaking
OpenAI's /embeddings), and the ranking by meaning is fused with the full-text one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from files.indexing import indexing_idle
from files.models import Chunk
from files.services import file_create, vector_store_create, vector_store_search
from tests.files.conftest import upload
from tests.files.embeddings_server import embeddings_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CORPUS = json.loads((Path(__file__).parent / "corpus" / "documents.json").read_text())


@pytest.fixture
def embeddings(settings):
    with embeddings_server() as url:
        settings.FILES_EMBEDDINGS_URL = url
        settings.FILES_EMBEDDINGS_MODEL = "test-embedding"
        yield url


async def _store(user, documents: dict[str, str]):
    ids = {}
    for name, text in documents.items():
        file = await sync_to_async(file_create)(user=user, upload=upload(name, text), purpose="assistants")
        ids[name] = file.pk
    store = await vector_store_create(user=user, file_ids=list(ids.values()))
    await indexing_idle()
    return store, ids


async def _search(user, store, query: str, limit: int = 5):
    return await sync_to_async(vector_store_search)(
        user_id=user.pk, vector_store_ids=[store.pk], query=query, max_num_results=limit
    )


async def test_it_finds_a_passage_by_meaning_where_no_word_matches(alice, embeddings):
    store, ids = await _store(
        alice, {"garage.txt": "Take the car to the garage for new tyres.", "x.txt": "Bake bread."}
    )
    assert await Chunk.objects.filter(embedding__isnull=False).acount() == 2
    results = await _search(alice, store, "automobile")
    assert [result.file_id for result in results][:1] == [ids["garage.txt"]]


async def test_it_searches_by_words_alone_without_a_model(alice):
    store, _ = await _store(alice, {"garage.txt": "Take the car to the garage for new tyres."})
    assert not await Chunk.objects.filter(embedding__isnull=False).aexists()
    assert await _search(alice, store, "automobile") == []


async def test_it_indexes_by_words_when_the_endpoint_fails(alice, settings):
    settings.FILES_EMBEDDINGS_URL = "http://127.0.0.1:9/v1"
    settings.FILES_EMBEDDINGS_MODEL = "test-embedding"
    store, ids = await _store(alice, {"garage.txt": "Take the car to the garage."})
    results = await _search(alice, store, "garage")
    assert [result.file_id for result in results] == [ids["garage.txt"]]


async def test_it_keeps_recall_with_rank_fusion(alice, embeddings, capsys):
    store, ids = await _store(alice, {document["name"]: document["text"] for document in CORPUS})
    found = 0
    for document in CORPUS:
        results = await _search(alice, store, document["question"])
        found += ids[document["name"]] in [result.file_id for result in results]
    recall = found / len(CORPUS)
    with capsys.disabled():
        print(f"\nrecall@5 (full-text index + embeddings, {len(CORPUS)} questions): {recall:.2f}")
    assert recall >= 0.9
