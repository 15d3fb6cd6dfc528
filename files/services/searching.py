"""Searching vector stores: which of them a user may search, waiting for files still being indexed, and the
search itself, which reads the database's full-text index (files.search)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from core.errors import ServiceError
from files import indexing
from files.models import Chunk, VectorStore, VectorStoreFile
from files.search import hits_search

SEARCH_RESULTS_MAX = 50
SEARCH_RESULTS_DEFAULT = 20
# How long a search waits for files still being indexed in its stores (a file attached a moment ago).
INDEXING_WAIT_SECONDS = 60


@dataclass(frozen=True)
class SearchResult:
    file_id: str
    filename: str
    score: float
    text: str


def vector_stores_usable(*, user_id: int, vector_store_ids: Sequence[str]) -> list[str]:
    """Of these ids, the user's stores that have not expired."""
    stores = VectorStore.objects.filter(owner_id=user_id, pk__in=list(vector_store_ids))
    return [store.pk for store in stores if not store.is_expired()]


def vector_store_ids_check(*, user: AbstractBaseUser, vector_store_ids: Any, param: str) -> list[str]:
    """`tool_resources.file_search.vector_store_ids`: the user's own stores, by id."""
    if not isinstance(vector_store_ids, list) or not all(isinstance(i, str) for i in vector_store_ids):
        raise ServiceError("invalid_type", f"'{param}' must be a list of vector store ids.", param=param)
    unique = list(dict.fromkeys(vector_store_ids))
    found = set(VectorStore.objects.filter(owner=user, pk__in=unique).values_list("pk", flat=True))
    for store_id in unique:
        if store_id not in found:
            raise ServiceError("invalid_value", f"No vector store found with id '{store_id[:100]}'.", param=param)
    return unique


async def vector_stores_index_pending(*, user_id: int, vector_store_ids: Sequence[str]) -> list[int]:
    """Start indexing the files of these stores still in progress that nothing here is indexing (those a sync
    workflow added, as a new thread's attachments); all their ids."""
    pending = await sync_to_async(list)(
        VectorStoreFile.objects.filter(
            vector_store__owner_id=user_id,
            vector_store_id__in=list(vector_store_ids),
            status=VectorStoreFile.Status.IN_PROGRESS,
        ).values_list("pk", flat=True)
    )
    indexing.indexing_untracked_schedule(pending)
    return pending


async def vector_stores_ready(
    *, user_id: int, vector_store_ids: Sequence[str], seconds: float = INDEXING_WAIT_SECONDS
) -> None:
    """Wait, at most `seconds`, for the files of these stores still being indexed (indexing any left waiting)."""
    pending = await vector_stores_index_pending(user_id=user_id, vector_store_ids=vector_store_ids)
    await indexing.indexing_wait(pending, seconds=seconds)


def vector_store_search(
    *, user_id: int, vector_store_ids: Sequence[str], query: str, max_num_results: int = SEARCH_RESULTS_DEFAULT
) -> list[SearchResult]:
    """The chunks of the user's unexpired stores that best match the query, best first."""
    limit = max(1, min(int(max_num_results), SEARCH_RESULTS_MAX))
    store_ids = vector_stores_usable(user_id=user_id, vector_store_ids=vector_store_ids)
    hits = hits_search(query=query, vector_store_ids=store_ids, limit=limit)
    chunks = Chunk.objects.select_related("file").defer("embedding").in_bulk([hit.chunk_id for hit in hits])
    if store_ids:
        VectorStore.objects.filter(pk__in=store_ids).update(last_active_at=timezone.now())
    return [
        SearchResult(file_id=chunk.file_id, filename=chunk.file.filename, score=hit.score, text=chunk.text)
        for hit in hits
        if (chunk := chunks.get(hit.chunk_id)) is not None
    ]
