"""Full-text search over the chunks of vector stores, in the database's own index: SQLite's FTS5 table, or
PostgreSQL's tsvector column with its GIN index (both made by migration 0002). Other databases get a plain
word match, so search still works, only slower and coarser. With an embedding model configured
(files.embeddings), the ranking by meaning is fused with the full-text one; the nearest embeddings are found in
the database too: sqlite-vec's vec_distance_cosine() on SQLite, pgvector's `<=>` on PostgreSQL (files.fields),
and in Python where the database has neither."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from files.embeddings import EmbeddingFailed, embed, embeddings_enabled, similarity
from files.fields import vector_column, vector_text
from files.models import Chunk

logger = logging.getLogger(__name__)
_WORD = re.compile(r"\w+", re.UNICODE)
QUERY_WORDS_MAX = 64


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    score: float


def query_words(query: str) -> list[str]:
    """The query's distinct words, in order, lower-cased."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:QUERY_WORDS_MAX]


class ChunkSearch:
    """Ranks chunks of the given stores against a query; higher scores are better."""

    def hits(self, *, query: str, vector_store_ids: Sequence[str], limit: int) -> list[Hit]:
        words = query_words(query)
        if not words or not vector_store_ids or limit < 1:
            return []
        return self._hits(words, list(vector_store_ids), limit)

    def _hits(self, words: list[str], store_ids: list[str], limit: int) -> list[Hit]:
        scored = []
        for chunk_id, text in Chunk.objects.filter(vector_store_id__in=store_ids).values_list("id", "text"):
            counts = Counter(_WORD.findall(text.lower()))
            score = sum(1 + min(counts[word], 5) / 5 for word in words if counts[word])
            if score:
                scored.append(Hit(chunk_id, score))
        scored.sort(key=lambda hit: (-hit.score, hit.chunk_id))
        return scored[:limit]


class SqliteSearch(ChunkSearch):
    SQL = (
        "SELECT c.id, bm25(files_chunk_fts) AS rank FROM files_chunk_fts JOIN files_chunk c "
        "ON c.id = files_chunk_fts.rowid WHERE files_chunk_fts MATCH %s AND c.vector_store_id IN "
        "(SELECT value FROM json_each(%s)) ORDER BY rank, c.id LIMIT %s"
    )

    def _hits(self, words: list[str], store_ids: list[str], limit: int) -> list[Hit]:
        # Each word quoted (FTS5 syntax is not the user's to write), any of them matching; bm25 ranks them.
        match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
        with connection.cursor() as cursor:
            cursor.execute(self.SQL, [match, json.dumps(store_ids), limit])
            # bm25 is lower for better matches; the API's scores are higher for better ones.
            return [Hit(chunk_id, -rank) for chunk_id, rank in cursor.fetchall()]


class PostgresSearch(ChunkSearch):
    SQL = (
        "SELECT id, ts_rank_cd(search, q) AS rank FROM files_chunk, to_tsquery('english', %s) AS q "
        "WHERE search @@ q AND vector_store_id = ANY(%s) ORDER BY rank DESC, id LIMIT %s"
    )

    def _hits(self, words: list[str], store_ids: list[str], limit: int) -> list[Hit]:
        # Words are \w+ only, so joining them with | is a well-formed tsquery; any of them matches.
        with connection.cursor() as cursor:
            cursor.execute(self.SQL, [" | ".join(words), store_ids, limit])
            return [Hit(chunk_id, float(rank)) for chunk_id, rank in cursor.fetchall()]


def chunk_search() -> ChunkSearch:
    """The search of the database in use."""
    if connection.vendor == "sqlite":
        return SqliteSearch()
    if connection.vendor == "postgresql":
        return PostgresSearch()
    return ChunkSearch()


# Reciprocal rank fusion's constant (Cormack et al.): a result's fused score is the sum of 1 / (k + rank).
FUSION_K = 60
CANDIDATES_PER_RESULT = 4


class NearestSearch:
    """Ranks chunks of the given stores by the cosine similarity of their embeddings to the query's; compared in
    Python here, in the database by the subclasses. Only embeddings of the query's size take part."""

    def hits(self, *, wanted: bytes, store_ids: list[str], limit: int) -> list[Hit]:
        rows = Chunk.objects.filter(vector_store_id__in=store_ids, embedding__isnull=False)
        scored = []
        for chunk_id, vector in rows.values_list("id", "embedding"):
            if len(vector) == len(wanted):
                scored.append(Hit(chunk_id, similarity(bytes(vector), wanted)))
        scored.sort(key=lambda hit: (-hit.score, hit.chunk_id))
        return scored[:limit]


class DatabaseNearestSearch(NearestSearch):
    """The ranking in one query of the database's own cosine distance (1 - similarity), nearest first."""

    SQL = ""

    def params(self, wanted: bytes, store_ids: list[str], limit: int) -> list:
        raise NotImplementedError

    def hits(self, *, wanted: bytes, store_ids: list[str], limit: int) -> list[Hit]:
        with connection.cursor() as cursor:
            cursor.execute(self.SQL, self.params(wanted, store_ids, limit))
            return [Hit(chunk_id, 1.0 - float(distance)) for chunk_id, distance in cursor.fetchall()]


class SqliteNearestSearch(DatabaseNearestSearch):
    SQL = (
        "SELECT id, vec_distance_cosine(embedding, %s) AS distance FROM files_chunk "
        "WHERE vector_store_id IN (SELECT value FROM json_each(%s)) AND embedding IS NOT NULL "
        "AND length(embedding) = %s ORDER BY distance, id LIMIT %s"
    )

    def params(self, wanted: bytes, store_ids: list[str], limit: int) -> list:
        return [wanted, json.dumps(store_ids), len(wanted), limit]


class PostgresNearestSearch(DatabaseNearestSearch):
    SQL = (
        "SELECT id, embedding <=> q AS distance FROM files_chunk, CAST(%s AS vector) AS q "
        "WHERE vector_store_id = ANY(%s) AND embedding IS NOT NULL AND vector_dims(embedding) = vector_dims(q) "
        "ORDER BY distance, id LIMIT %s"
    )

    def params(self, wanted: bytes, store_ids: list[str], limit: int) -> list:
        return [vector_text(wanted), store_ids, limit]


def nearest_search() -> NearestSearch:
    """The nearest-embedding search of the database in use: in the database where it can, else in Python."""
    if connection.vendor == "sqlite" and getattr(connection.features, "vec_version", None):
        return SqliteNearestSearch()
    if vector_column(connection):
        return PostgresNearestSearch()
    return NearestSearch()


def _similar(query: str, store_ids: list[str], limit: int) -> list[Hit]:
    """The chunks nearest the query by embedding; [] when embeddings are off or the endpoint fails."""
    if not embeddings_enabled() or not store_ids:
        return []
    try:
        (wanted,) = embed([query])
    except EmbeddingFailed as exc:  # the full-text ranking still answers
        logger.warning("Embedding a search query failed: %s", exc)
        return []
    return nearest_search().hits(wanted=wanted, store_ids=store_ids, limit=limit)


def hits_search(*, query: str, vector_store_ids: Sequence[str], limit: int) -> list[Hit]:
    """The best chunks for a query: the full-text ranking, fused with the embedding ranking when there is one."""
    store_ids = list(vector_store_ids)
    wide = limit * CANDIDATES_PER_RESULT
    lexical = chunk_search().hits(query=query, vector_store_ids=store_ids, limit=wide)
    semantic = _similar(query, store_ids, wide)
    if not semantic:
        return lexical[:limit]
    fused: dict[int, float] = {}
    for ranking in (lexical, semantic):
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + 1 / (FUSION_K + rank)
    best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Hit(chunk_id, score) for chunk_id, score in best]
