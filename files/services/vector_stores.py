"""Workflows for vector stores: making, changing and deleting them, and adding files to them, which starts their
indexing in the background (files.indexing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from files import indexing
from files.extract import CHUNK_OVERLAP_DEFAULT, CHUNK_TOKENS_DEFAULT, CHUNK_TOKENS_MAX, CHUNK_TOKENS_MIN
from files.models import Chunk, File, FileBatch, VectorStore, VectorStoreFile
from files.selectors import file_batch_get, vector_store_file_get, vector_store_get
from files.services.files import files_of_user

NAME_MAX = 256
EXPIRES_DAYS_MAX = 365
METADATA_PAIRS_MAX = 16
# A thread's own store (its messages' attachments) expires after this many idle days, as OpenAI's did.
THREAD_STORE_DAYS = 7


def _metadata_check(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or len(value) > METADATA_PAIRS_MAX
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        or not all(len(k) <= 64 and len(v) <= 512 for k, v in value.items())
    ):
        raise ServiceError(
            "invalid_metadata",
            "Metadata must be at most 16 string pairs, keys of at most 64 and values of at most 512 characters.",
            param="metadata",
        )
    return value


def _expires_after_check(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or set(value) != {"anchor", "days"}
        or value["anchor"] != "last_active_at"
        or isinstance(value["days"], bool)
        or not isinstance(value["days"], int)
        or not 1 <= value["days"] <= EXPIRES_DAYS_MAX
    ):
        raise ServiceError(
            "invalid_value",
            f"'expires_after' must be {{'anchor': 'last_active_at', 'days': 1 to {EXPIRES_DAYS_MAX}}}.",
            param="expires_after",
        )
    return {"anchor": "last_active_at", "days": value["days"]}


def chunking_strategy_check(value: Any) -> dict[str, Any]:
    """OpenAI's `chunking_strategy` (auto, or static with its sizes), as stored on each file: always static."""
    if value is None or value == {"type": "auto"}:
        tokens, overlap = CHUNK_TOKENS_DEFAULT, CHUNK_OVERLAP_DEFAULT
    else:
        static = value.get("static") if isinstance(value, dict) and value.get("type") == "static" else None
        tokens = static.get("max_chunk_size_tokens") if isinstance(static, dict) else None
        overlap = static.get("chunk_overlap_tokens") if isinstance(static, dict) else None
        if (
            set(value) != {"type", "static"}
            or set(static) != {"max_chunk_size_tokens", "chunk_overlap_tokens"}
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in (tokens, overlap))
            or not CHUNK_TOKENS_MIN <= tokens <= CHUNK_TOKENS_MAX
            or not 0 <= overlap <= tokens // 2
        ):
            raise ServiceError(
                "invalid_value",
                "'chunking_strategy' must be {'type': 'auto'} or {'type': 'static', 'static': "
                f"{{'max_chunk_size_tokens': {CHUNK_TOKENS_MIN} to {CHUNK_TOKENS_MAX}, 'chunk_overlap_tokens': "
                "at most half of it}}.",
                param="chunking_strategy",
            )
    return {"type": "static", "static": {"max_chunk_size_tokens": tokens, "chunk_overlap_tokens": overlap}}


def _entries_add(
    store: VectorStore, files: Iterable[File], *, strategy: dict[str, Any], batch: FileBatch | None = None
) -> list[VectorStoreFile]:
    """Add files to a store as in_progress (a file already there is indexed again, with the new strategy)."""
    entries = []
    for file in files:
        entry, _ = VectorStoreFile.objects.update_or_create(
            vector_store=store,
            file=file,
            defaults={
                "status": VectorStoreFile.Status.IN_PROGRESS,
                "last_error": None,
                "chunking_strategy": strategy,
                "batch": batch,
                "usage_bytes": 0,
            },
        )
        entries.append(entry)
    return entries


def _store_create(
    *,
    user: AbstractBaseUser,
    name: Any,
    file_ids: Any,
    expires_after: Any,
    metadata: Any,
    chunking_strategy: Any,
) -> tuple[VectorStore, list[int]]:
    if name is not None and (not isinstance(name, str) or len(name) > NAME_MAX):
        raise ServiceError("invalid_value", f"'name' must be a string of at most {NAME_MAX} characters.", param="name")
    store = VectorStore(
        owner=user,
        name=name or "",
        metadata=_metadata_check(metadata),
        expires_after=_expires_after_check(expires_after),
    )
    strategy = chunking_strategy_check(chunking_strategy)
    files = files_of_user(user=user, file_ids=file_ids or [], param="file_ids")
    with transaction.atomic():
        store.save()
        entries = _entries_add(store, files, strategy=strategy)
    return store, [entry.pk for entry in entries]


async def vector_store_create(
    *,
    user: AbstractBaseUser,
    name: Any = None,
    file_ids: Any = None,
    expires_after: Any = None,
    metadata: Any = None,
    chunking_strategy: Any = None,
) -> VectorStore:
    """Create a vector store, and start indexing the files it starts with."""
    store, entry_ids = await sync_to_async(_store_create)(
        user=user,
        name=name,
        file_ids=file_ids,
        expires_after=expires_after,
        metadata=metadata,
        chunking_strategy=chunking_strategy,
    )
    indexing.indexing_schedule(entry_ids)
    return store


_UNSET: Any = object()


def vector_store_update(
    *,
    user: AbstractBaseUser,
    vector_store_id: str,
    name: Any = _UNSET,
    expires_after: Any = _UNSET,
    metadata: Any = _UNSET,
) -> VectorStore:
    """Change the given fields of a store; a change counts as activity (it moves an expiry away)."""
    store = vector_store_get(user=user, vector_store_id=vector_store_id)
    if name is not _UNSET:
        if name is not None and (not isinstance(name, str) or len(name) > NAME_MAX):
            raise ServiceError("invalid_value", f"'name' must be at most {NAME_MAX} characters.", param="name")
        store.name = name or ""
    if expires_after is not _UNSET:
        store.expires_after = _expires_after_check(expires_after)
    if metadata is not _UNSET:
        store.metadata = _metadata_check(metadata)
    store.last_active_at = timezone.now()
    store.save()
    return store


def vector_store_delete(*, user: AbstractBaseUser, vector_store_id: str) -> None:
    """Delete a store and its index; its files stay."""
    store = vector_store_get(user=user, vector_store_id=vector_store_id)
    indexing.indexing_cancel(list(store.entries.values_list("pk", flat=True)))
    store.delete()


def _file_add(
    *, user: AbstractBaseUser, vector_store_id: str, file_id: Any, chunking_strategy: Any, attributes: Any
) -> VectorStoreFile:
    store = vector_store_get(user=user, vector_store_id=vector_store_id)
    if not isinstance(file_id, str):
        raise ServiceError("invalid_type", "'file_id' must be a file id.", param="file_id")
    if attributes is not None and not isinstance(attributes, dict):
        raise ServiceError("invalid_type", "'attributes' must be an object.", param="attributes")
    strategy = chunking_strategy_check(chunking_strategy)
    (file,) = files_of_user(user=user, file_ids=[file_id], param="file_id")
    with transaction.atomic():
        (entry,) = _entries_add(store, [file], strategy=strategy)
        if attributes is not None:
            entry.attributes = attributes
            entry.save(update_fields=["attributes"])
        VectorStore.objects.filter(pk=store.pk).update(last_active_at=timezone.now())
    return entry


async def vector_store_file_create(
    *,
    user: AbstractBaseUser,
    vector_store_id: str,
    file_id: Any,
    chunking_strategy: Any = None,
    attributes: Any = None,
) -> VectorStoreFile:
    """Add one of the user's files to a store and start indexing it."""
    entry = await sync_to_async(_file_add)(
        user=user,
        vector_store_id=vector_store_id,
        file_id=file_id,
        chunking_strategy=chunking_strategy,
        attributes=attributes,
    )
    indexing.indexing_schedule([entry.pk])
    return entry


def vector_store_file_delete(*, user: AbstractBaseUser, vector_store_id: str, file_id: str) -> None:
    """Take a file out of a store (the file itself stays)."""
    entry = vector_store_file_get(user=user, vector_store_id=vector_store_id, file_id=file_id)
    indexing.indexing_cancel([entry.pk])
    entry.delete()


def _batch_create(
    *, user: AbstractBaseUser, vector_store_id: str, file_ids: Any, chunking_strategy: Any
) -> tuple[FileBatch, list[int]]:
    store = vector_store_get(user=user, vector_store_id=vector_store_id)
    if not file_ids:
        raise ServiceError("invalid_value", "'file_ids' must name at least one file.", param="file_ids")
    strategy = chunking_strategy_check(chunking_strategy)
    files = files_of_user(user=user, file_ids=file_ids, param="file_ids")
    with transaction.atomic():
        batch = FileBatch.objects.create(vector_store=store)
        entries = _entries_add(store, files, strategy=strategy, batch=batch)
        VectorStore.objects.filter(pk=store.pk).update(last_active_at=timezone.now())
    return batch, [entry.pk for entry in entries]


async def file_batch_create(
    *, user: AbstractBaseUser, vector_store_id: str, file_ids: Any, chunking_strategy: Any = None
) -> FileBatch:
    """Add several files to a store at once and start indexing them."""
    batch, entry_ids = await sync_to_async(_batch_create)(
        user=user, vector_store_id=vector_store_id, file_ids=file_ids, chunking_strategy=chunking_strategy
    )
    indexing.indexing_schedule(entry_ids)
    return batch


def file_batch_cancel(*, user: AbstractBaseUser, vector_store_id: str, batch_id: str) -> FileBatch:
    """Stop indexing a batch's files not done yet; those end cancelled, the done ones stay."""
    batch = file_batch_get(user=user, vector_store_id=vector_store_id, batch_id=batch_id)
    with transaction.atomic():
        pending = list(batch.entries.filter(status=VectorStoreFile.Status.IN_PROGRESS).values_list("pk", flat=True))
        VectorStoreFile.objects.filter(pk__in=pending).update(status=VectorStoreFile.Status.CANCELLED)
        Chunk.objects.filter(entry_id__in=pending).delete()
        batch.cancelled = True
        batch.save(update_fields=["cancelled"])
    indexing.indexing_cancel(pending)
    return batch


def store_files_add(
    *,
    user: AbstractBaseUser,
    vector_store_id: str | None,
    files: Sequence[File],
    name: str,
    expires_days: int | None = None,
) -> tuple[VectorStore, list[int]]:
    """Add files to a store of the user's, made now if `vector_store_id` is None or gone (a thread's own store
    for a message's attachments, as OpenAI's; an assistant's knowledge). Files already there stay as they are;
    the caller schedules the returned entries' indexing once committed."""
    store = VectorStore.objects.filter(owner=user, pk=vector_store_id).first() if vector_store_id else None
    if store is None:
        expires = {"anchor": "last_active_at", "days": expires_days} if expires_days else None
        store = VectorStore.objects.create(owner=user, name=name[:NAME_MAX], expires_after=expires)
    known = set(store.entries.values_list("file_id", flat=True))
    entries = _entries_add(
        store, [file for file in files if file.pk not in known], strategy=chunking_strategy_check(None)
    )
    VectorStore.objects.filter(pk=store.pk).update(last_active_at=timezone.now())
    return store, [entry.pk for entry in entries]
