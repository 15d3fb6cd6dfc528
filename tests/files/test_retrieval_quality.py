"""Retrieval quality on the corpus the tests ship (tests/files/corpus): each question has one document that
answers it, and recall@5 is the share of questions whose document is among the first five results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from files.indexing import indexing_idle
from files.services import file_create, vector_store_create, vector_store_search
from tests.files.conftest import upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CORPUS = json.loads((Path(__file__).parent / "corpus" / "documents.json").read_text())
RECALL_AT_5_MIN = 0.9


async def test_it_finds_the_answering_document_in_the_first_five(alice, capsys):
    ids = {}
    for document in CORPUS:
        file = await sync_to_async(file_create)(
            user=alice, upload=upload(document["name"], document["text"]), purpose="assistants"
        )
        ids[document["name"]] = file.pk
    store = await vector_store_create(user=alice, file_ids=list(ids.values()))
    await indexing_idle()
    found = 0
    for document in CORPUS:
        results = await sync_to_async(vector_store_search)(
            user_id=alice.pk, vector_store_ids=[store.pk], query=document["question"], max_num_results=5
        )
        found += ids[document["name"]] in [result.file_id for result in results]
    recall = found / len(CORPUS)
    with capsys.disabled():
        print(f"\nrecall@5 (full-text index, {len(CORPUS)} questions): {recall:.2f}")
    assert recall >= RECALL_AT_5_MIN
