"""Indexing in the background: each file added to a vector store is read, cut into chunks and stored in its own
asyncio task of this process. A file left `in_progress` by a process that stopped is picked up again by
`indexing_resume` (config.process calls it when the server starts), and indexing a file twice gives the same
chunks, so a resumed file ends as if nothing had happened."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from files.embeddings import EmbeddingFailed, embed, embeddings_enabled
from files.extract import Unreadable, chunks_cut, text_extract
from files.models import Chunk, VectorStoreFile

logger = logging.getLogger(__name__)

_tasks: dict[int, asyncio.Task] = {}
_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


@dataclass
class Reading:
    """What indexing one file of a store read from it: its chunks, or why there are none."""

    texts: list[str]
    error: tuple[str, str] | None = None
    vectors: list[bytes] | None = None


def _entry_load(entry_id: int) -> VectorStoreFile | None:
    """The file to index, if it is still waiting for it."""
    entry = VectorStoreFile.objects.select_related("file").filter(pk=entry_id).first()
    return entry if entry is not None and entry.status == VectorStoreFile.Status.IN_PROGRESS else None


def _entry_read(entry: VectorStoreFile) -> Reading:
    """Read the file's text and cut it into chunks; no database work, so it may run on any thread."""
    static = entry.chunking_strategy.get("static") or {}
    try:
        with entry.file.content.open("rb") as handle:
            data = handle.read()
        extracted = text_extract(entry.file.filename, data)
    except Unreadable as exc:
        return Reading([], ("invalid_file", str(exc)))
    except (OSError, ValueError) as exc:
        logger.warning("Reading file %s failed: %s", entry.file_id, exc)
        return Reading([], ("server_error", "The file could not be read from storage."))
    texts = chunks_cut(
        extracted.text,
        max_tokens=static.get("max_chunk_size_tokens", 800),
        overlap=static.get("chunk_overlap_tokens", 400),
    )
    if not texts:
        return Reading([], ("invalid_file", "The file has no text to search."))
    return Reading(texts, vectors=_vectors(entry, texts))


def _vectors(entry: VectorStoreFile, texts: list[str]) -> list[bytes] | None:
    """The chunks' embeddings, when a model is configured; without them the file is searched by its words."""
    if not embeddings_enabled():
        return None
    try:
        return embed(texts)
    except EmbeddingFailed as exc:  # the full-text index still finds the file
        logger.warning("Embedding file %s failed: %s", entry.file_id, exc)
        return None


def _entry_finish(entry: VectorStoreFile, reading: Reading) -> str:
    """Store the chunks (or the failure) of a file still in progress; one cancelled or removed meanwhile stays as
    it is. Returns how the file ended."""
    if reading.error is not None:
        return _fail(entry.pk, *reading.error)
    with transaction.atomic():
        current = VectorStoreFile.objects.select_for_update().filter(pk=entry.pk).first()
        if current is None or current.status != VectorStoreFile.Status.IN_PROGRESS:
            return current.status if current is not None else "deleted"
        Chunk.objects.filter(entry_id=entry.pk).delete()
        Chunk.objects.bulk_create(
            Chunk(
                entry_id=entry.pk,
                vector_store_id=entry.vector_store_id,
                file_id=entry.file_id,
                index=i,
                text=text,
                embedding=reading.vectors[i] if reading.vectors else None,
            )
            for i, text in enumerate(reading.texts)
        )
        current.status = VectorStoreFile.Status.COMPLETED
        current.usage_bytes = sum(len(text.encode()) for text in reading.texts)
        current.save(update_fields=["status", "usage_bytes"])
    return VectorStoreFile.Status.COMPLETED


def entry_index(entry_id: int) -> str:
    """Index one file of a store now, and return how it ended (`completed`, `failed`, or its state if it was
    no longer in progress). A file that cannot be read ends `failed` with `last_error`."""
    entry = _entry_load(entry_id)
    if entry is None:
        current = VectorStoreFile.objects.filter(pk=entry_id).values_list("status", flat=True).first()
        return current or "deleted"
    return _entry_finish(entry, _entry_read(entry))


def _fail(entry_id: int, code: str, message: str) -> str:
    VectorStoreFile.objects.filter(pk=entry_id, status=VectorStoreFile.Status.IN_PROGRESS).update(
        status=VectorStoreFile.Status.FAILED, last_error={"code": code, "message": message[:500]}
    )
    return VectorStoreFile.Status.FAILED


async def _index(entry_id: int) -> None:
    loop = asyncio.get_running_loop()
    slots = _slots.setdefault(loop, asyncio.Semaphore(max(1, settings.FILES_INDEX_CONCURRENCY)))
    async with slots:
        try:
            entry = await sync_to_async(_entry_load)(entry_id)
            if entry is None:
                return
            # Read off the thread the server's sync views share: parsing a large PDF must not hold them up.
            reading = await sync_to_async(_entry_read, thread_sensitive=False)(entry)
            await sync_to_async(_entry_finish)(entry, reading)
        except Exception:  # the file ends failed; the next one is indexed all the same
            logger.exception("Indexing vector store file %s failed", entry_id)
            await sync_to_async(_fail)(entry_id, "server_error", "Indexing failed on the server.")


def indexing_schedule(entry_ids: Iterable[int]) -> None:
    """Index these files in the background, in this process's event loop (each once at a time)."""
    loop = asyncio.get_running_loop()
    for entry_id in entry_ids:
        current = _tasks.get(entry_id)
        if current is not None and not current.done():
            current.cancel()
        # A fresh context: the task outlives the request that started it.
        task = loop.create_task(_index(entry_id), name=f"file-index:{entry_id}", context=contextvars.Context())
        _tasks[entry_id] = task
        task.add_done_callback(lambda done, key=entry_id: _tasks.pop(key, None) if _tasks.get(key) is done else None)


def indexing_cancel(entry_ids: Iterable[int]) -> None:
    """Stop indexing these files here; their rows say how they ended (cancelled, or deleted)."""
    for entry_id in entry_ids:
        task = _tasks.get(entry_id)
        if task is not None:
            task.get_loop().call_soon_threadsafe(task.cancel)


async def indexing_resume() -> int:
    """Index again every file left in progress that no task of this process is indexing; how many there were."""
    pending = await sync_to_async(list)(
        VectorStoreFile.objects.filter(status=VectorStoreFile.Status.IN_PROGRESS).values_list("pk", flat=True)
    )
    return indexing_untracked_schedule(pending)


def indexing_untracked_schedule(entry_ids: Iterable[int]) -> int:
    """Index those of these files that no task of this process is indexing; how many there were."""
    pending = [entry_id for entry_id in entry_ids if entry_id not in _tasks]
    indexing_schedule(pending)
    return len(pending)


_resumed: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def indexing_start() -> None:
    """Once per event loop (the server's), resume the files left in progress (config.process calls it)."""
    loop = asyncio.get_running_loop()
    if loop in _resumed:
        return
    _resumed[loop] = loop.create_task(indexing_resume(), name="file-index-resume", context=contextvars.Context())


async def indexing_idle() -> None:
    """Wait until every indexing task of this process has ended."""
    while _tasks:
        await asyncio.gather(*list(_tasks.values()), return_exceptions=True)


async def indexing_wait(entry_ids: Iterable[int], *, seconds: float) -> None:
    """Wait, at most `seconds`, for this process's indexing of these files to end (a search right after an
    upload finds the file)."""
    tasks = [task for entry_id in entry_ids if (task := _tasks.get(entry_id)) is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=seconds)
