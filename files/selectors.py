"""Reads of files and vector stores: always scoped to their owner (another user's object does not exist)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet, Sum

from core.errors import ServiceError
from files.models import File, FileBatch, VectorStore, VectorStoreFile

STATUSES = ("in_progress", "completed", "failed", "cancelled")


def file_get(*, user: AbstractBaseUser, file_id: Any) -> File:
    file = File.objects.filter(owner=user, pk=str(file_id)).first()
    if file is None:
        raise ServiceError.not_found("file", file_id)
    return file


def vector_store_get(*, user: AbstractBaseUser, vector_store_id: Any) -> VectorStore:
    store = VectorStore.objects.filter(owner=user, pk=str(vector_store_id)).first()
    if store is None:
        raise ServiceError.not_found("vector store", vector_store_id)
    return store


def vector_store_file_get(*, user: AbstractBaseUser, vector_store_id: Any, file_id: Any) -> VectorStoreFile:
    entry = (
        VectorStoreFile.objects.filter(vector_store__owner=user, vector_store_id=str(vector_store_id))
        .filter(file_id=str(file_id))
        .first()
    )
    if entry is None:
        raise ServiceError.not_found("vector store file", file_id)
    return entry


def file_batch_get(*, user: AbstractBaseUser, vector_store_id: Any, batch_id: Any) -> FileBatch:
    batch = FileBatch.objects.filter(
        vector_store__owner=user, vector_store_id=str(vector_store_id), pk=str(batch_id)
    ).first()
    if batch is None:
        raise ServiceError.not_found("vector store file batch", batch_id)
    return batch


def file_counts(entries: QuerySet[VectorStoreFile]) -> dict[str, int]:
    """OpenAI's `file_counts`: how many files are in each state, and in all."""
    counts = dict.fromkeys(STATUSES, 0)
    for row in entries.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts.values())
    return counts


def vector_store_usage_bytes(store: VectorStore) -> int:
    return store.entries.aggregate(total=Sum("usage_bytes"))["total"] or 0


def vector_store_status(store: VectorStore, counts: dict[str, int]) -> str:
    if store.is_expired():
        return VectorStore.Status.EXPIRED
    return VectorStore.Status.IN_PROGRESS if counts["in_progress"] else VectorStore.Status.COMPLETED


def file_batch_status(batch: FileBatch, counts: dict[str, int]) -> str:
    if batch.cancelled:
        return FileBatch.Status.CANCELLED
    if counts["in_progress"]:
        return FileBatch.Status.IN_PROGRESS
    if counts["total"] and counts["failed"] == counts["total"]:
        return FileBatch.Status.FAILED
    return FileBatch.Status.COMPLETED
