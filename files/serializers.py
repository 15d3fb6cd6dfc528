"""Files and vector stores as OpenAI's wire objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from files.models import File, FileBatch, VectorStore, VectorStoreFile
from files.selectors import (
    file_batch_status,
    file_counts,
    vector_store_status,
    vector_store_usage_bytes,
)


def _seconds(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def file_object(file: File) -> dict[str, Any]:
    return {
        "id": file.id,
        "object": "file",
        "bytes": file.bytes,
        "created_at": _seconds(file.created_at),
        "expires_at": None,
        "filename": file.filename,
        "purpose": file.purpose,
        "status": "processed",
        "status_details": None,
    }


def vector_store_object(store: VectorStore) -> dict[str, Any]:
    counts = file_counts(store.entries.all())
    return {
        "id": store.id,
        "object": "vector_store",
        "created_at": _seconds(store.created_at),
        "name": store.name or None,
        "usage_bytes": vector_store_usage_bytes(store),
        "file_counts": counts,
        "status": vector_store_status(store, counts),
        "expires_after": store.expires_after,
        "expires_at": _seconds(store.expires_at),
        "last_active_at": _seconds(store.last_active_at),
        "metadata": store.metadata or {},
    }


def vector_store_file_object(entry: VectorStoreFile) -> dict[str, Any]:
    return {
        "id": entry.file_id,
        "object": "vector_store.file",
        "usage_bytes": entry.usage_bytes,
        "created_at": _seconds(entry.created_at),
        "vector_store_id": entry.vector_store_id,
        "status": entry.status,
        "last_error": entry.last_error,
        "chunking_strategy": entry.chunking_strategy,
        "attributes": entry.attributes or {},
    }


def file_batch_object(batch: FileBatch) -> dict[str, Any]:
    counts = file_counts(batch.entries.all())
    return {
        "id": batch.id,
        "object": "vector_store.files_batch",
        "created_at": _seconds(batch.created_at),
        "vector_store_id": batch.vector_store_id,
        "status": file_batch_status(batch, counts),
        "file_counts": counts,
    }
