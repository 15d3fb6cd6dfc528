"""Indexing throughput: a long PDF read, cut into chunks and stored under the full-text index (and embedded, with
a model), reported in pages per second."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from files.indexing import indexing_idle
from files.models import Chunk, VectorStoreFile
from files.services import file_create, vector_store_create, vector_store_search
from tests.files.conftest import pdf_bytes, upload
from tests.files.test_embeddings import embeddings  # noqa: F401 - the fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PAGES = 300
WORDS = "pump valve pressure gauge flow seal bearing motor shaft impeller".split()
# Far below what the machine does: a floor that catches indexing gone quadratic, not a benchmark.
PAGES_PER_SECOND_MIN = 20


def _page(number: int) -> str:
    words = [WORDS[(number * 7 + i) % len(WORDS)] for i in range(120)]
    return f"Page {number} of the service manual. " + " ".join(words) + f" Part number P{number:04d}."


async def _index_pages(user) -> tuple[float, str, str]:
    data = pdf_bytes(*(_page(number) for number in range(PAGES)))
    file = await sync_to_async(file_create)(user=user, upload=upload("manual.pdf", data), purpose="assistants")
    started = time.perf_counter()
    store = await vector_store_create(user=user, file_ids=[file.pk])
    await indexing_idle()
    return PAGES / (time.perf_counter() - started), store.pk, file.pk


async def _report(label: str, rate: float, capsys) -> None:
    with capsys.disabled():
        print(f"\nindexing ({label}, {PAGES}-page PDF): {rate:.0f} pages/s")


async def test_it_indexes_a_long_pdf_quickly(alice, capsys):
    rate, store_id, file_id = await _index_pages(alice)
    await _report("full-text index", rate, capsys)
    assert (await VectorStoreFile.objects.aget(vector_store_id=store_id)).status == "completed"
    results = await sync_to_async(vector_store_search)(
        user_id=alice.pk, vector_store_ids=[store_id], query="P0123", max_num_results=1
    )
    assert results[0].file_id == file_id and "P0123" in results[0].text
    assert rate >= PAGES_PER_SECOND_MIN


async def test_it_indexes_a_long_pdf_with_embeddings(alice, embeddings, capsys):  # noqa: F811 - the fixture
    rate, store_id, _ = await _index_pages(alice)
    await _report("full-text index + embeddings", rate, capsys)
    assert not await Chunk.objects.filter(vector_store_id=store_id, embedding__isnull=True).aexists()
    assert rate >= PAGES_PER_SECOND_MIN
