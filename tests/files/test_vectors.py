"""Embeddings kept and ranked in the database: sqlite-vec's vec_distance_cosine() on SQLite, pgvector's `<=>` on
PostgreSQL (where the extension is installed), in Python elsewhere."""

from __future__ import annotations

import logging
from array import array

import pytest
import sqlean
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from files.embeddings import embed
from files.fields import vector_column
from files.models import Chunk
from files.search import NearestSearch, nearest_search
from files.services import file_delete, vector_store_search
from tests.files.test_embeddings import CORPUS, _store, embeddings  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

DISTANCE_SQL = {"sqlite": "vec_distance_cosine(", "postgresql": "<=>"}


def _in_database() -> bool:
    return connection.vendor == "sqlite" or vector_column(connection)


@pytest.fixture
def in_database(db):
    if not _in_database():
        pytest.skip("PostgreSQL without pgvector: embeddings are compared in Python")


def _search_sql(user, store, query: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        vector_store_search(user_id=user.pk, vector_store_ids=[store.pk], query=query, max_num_results=5)
    return [query["sql"] for query in queries]


@sync_to_async
def _nearest(text: str, store_ids: list[str], limit: int = 5, search: NearestSearch | None = None) -> list:
    (wanted,) = embed([text])
    return (search or nearest_search()).hits(wanted=wanted, store_ids=store_ids, limit=limit)


async def test_it_ranks_embeddings_in_the_database(alice, embeddings, in_database):  # noqa: F811 - the fixture
    store, _ = await _store(alice, {"garage.txt": "Take the car to the garage.", "bread.txt": "Bake bread."})
    statements = await sync_to_async(_search_sql)(alice, store, "automobile")
    assert any(DISTANCE_SQL[connection.vendor] in sql for sql in statements)
    assert not any("SELECT" in sql and '"embedding"' in sql for sql in statements)


async def test_it_finds_the_same_nearest_chunks_as_python(alice, embeddings, in_database):  # noqa: F811
    store, _ = await _store(alice, {document["name"]: document["text"] for document in CORPUS})
    for document in CORPUS[:10]:
        found = await _nearest(document["question"], [store.pk])
        everything = await _nearest(document["question"], [store.pk], limit=1000, search=NearestSearch())
        scores = {hit.chunk_id: hit.score for hit in everything}
        assert len(found) == 5
        assert [hit.score for hit in found] == sorted((hit.score for hit in found), reverse=True)
        assert all(hit.score == pytest.approx(scores[hit.chunk_id], abs=1e-5) for hit in found)
        assert found[-1].score >= everything[4].score - 1e-5


async def test_it_reads_back_the_embedding_it_stored(alice, embeddings):  # noqa: F811
    await _store(alice, {"garage.txt": "Take the car to the garage."})
    (expected,) = await sync_to_async(embed)(["Take the car to the garage."])
    chunk = await Chunk.objects.aget()
    assert bytes(chunk.embedding) == expected


async def test_it_leaves_out_embeddings_of_another_size(alice, embeddings):  # noqa: F811
    store, _ = await _store(alice, {"garage.txt": "Take the car to the garage.", "car.txt": "A car."})
    other = await Chunk.objects.aget(text="A car.")
    await Chunk.objects.filter(pk=other.pk).aupdate(embedding=array("f", [1.0, 0.0, 0.0]).tobytes())
    hits = await _nearest("car", [store.pk])
    assert other.pk not in [hit.chunk_id for hit in hits] and len(hits) == 1


async def test_it_removes_a_files_vectors_with_the_file(alice, embeddings):  # noqa: F811
    store, ids = await _store(alice, {"garage.txt": "Take the car to the garage.", "car.txt": "A car."})
    await sync_to_async(file_delete)(user=alice, file_id=ids["garage.txt"])
    assert not await Chunk.objects.filter(file_id=ids["garage.txt"]).aexists()
    hits = await _nearest("car garage", [store.pk])
    assert [hit.chunk_id for hit in hits] == [(await Chunk.objects.aget(file_id=ids["car.txt"])).pk]


@pytest.fixture
def sqlite(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")


def test_it_loads_sqlite_vec_into_every_new_connection(sqlite):
    fresh = connection.get_new_connection(connection.get_connection_params())
    try:
        assert fresh.execute("SELECT vec_version()").fetchone()[0].startswith("v")
    finally:
        fresh.close()


def test_it_goes_on_without_sqlite_vec_when_it_does_not_load(sqlite, monkeypatch, caplog):
    from core.backends.sqlite import base

    def refuse(conn):
        raise sqlean.dbapi2.OperationalError("no such file")

    monkeypatch.setattr(base.sqlite_vec, "load", refuse)
    monkeypatch.setattr(base, "_warned", False)
    wrapper = base.DatabaseWrapper({**connection.settings_dict, "NAME": ":memory:"}, "without-vec")
    try:
        with caplog.at_level(logging.WARNING, logger=base.__name__):
            assert wrapper.features.vec_version is None
        assert "sqlite-vec did not load" in caplog.text
    finally:
        wrapper.close()
