"""Knowledge: the files an assistant's file_search reads."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from assistants.models import Assistant
from assistants.services.management import assistant_get
from core.errors import ServiceError
from files.indexing import indexing_schedule
from files.models import VectorStoreFile
from files.services import (
    file_create,
    file_delete,
    store_files_add,
    vector_store_file_delete,
)


def assistant_knowledge_store_id(assistant: Assistant) -> str | None:
    """The first vector store the assistant's file_search reads (the one its page adds files to)."""
    ids = (assistant.tool_resources or {}).get("file_search", {}).get("vector_store_ids") or []
    return ids[0] if ids else None


def _knowledge_owned(user: AbstractBaseUser, assistant_id: str) -> Assistant:
    assistant = assistant_get(user=user, assistant_id=assistant_id, for_update=True)
    if assistant.owner_id != user.pk:
        # Stores are their owner's: a shared assistant's would be searched for nobody else.
        raise ServiceError("permission_denied", "Knowledge files are for your own assistants: duplicate this one.")
    return assistant


def _knowledge_add(*, user: AbstractBaseUser, assistant_id: str, uploads: list[Any]) -> list[int]:
    assistant = _knowledge_owned(user, assistant_id)
    if not uploads:
        raise ServiceError("missing_file", "Choose at least one file.", param="files")
    files: list[Any] = []
    try:
        for upload in uploads:
            files.append(file_create(user=user, upload=upload, purpose="assistants"))
        with transaction.atomic():
            store, entry_ids = store_files_add(
                user=user,
                vector_store_id=assistant_knowledge_store_id(assistant),
                files=files,
                name=f"Knowledge of {assistant.name}",
            )
            others = (assistant.tool_resources or {}).get("file_search", {}).get("vector_store_ids", [])
            stores = [store.pk, *(i for i in others if i != store.pk)]
            assistant.tool_resources = {"file_search": {"vector_store_ids": stores}}
            assistant.file_search = assistant.file_search if assistant.file_search is not None else {}
            assistant.save(update_fields=["tool_resources", "file_search"])
    except BaseException:
        # One file refused: none of this upload's files stay behind.
        for file in files:
            file_delete(user=user, file_id=file.pk)
        raise
    return entry_ids


async def assistant_knowledge_add(*, user: AbstractBaseUser, assistant_id: str, uploads: list[Any]) -> None:
    """Give one of the user's assistants files to search: stored, added to its knowledge store (made with the
    first; file_search turned on) and indexed in the background. A refused file leaves none of them behind."""
    entry_ids = await sync_to_async(_knowledge_add)(user=user, assistant_id=assistant_id, uploads=uploads)
    indexing_schedule(entry_ids)


def assistant_knowledge_remove(*, user: AbstractBaseUser, assistant_id: str, file_id: str) -> None:
    """Take a file out of the assistant's knowledge (the file itself stays among the user's files)."""
    assistant = _knowledge_owned(user, assistant_id)
    store_id = assistant_knowledge_store_id(assistant)
    if store_id is None:
        raise ServiceError.not_found("vector store file", file_id)
    vector_store_file_delete(user=user, vector_store_id=store_id, file_id=file_id)


def assistant_knowledge(*, user: AbstractBaseUser, assistant: Assistant) -> list[VectorStoreFile]:
    """The files of the assistant's knowledge store that the user owns, oldest first, with their state."""
    store_id = assistant_knowledge_store_id(assistant)
    if store_id is None:
        return []
    return list(
        VectorStoreFile.objects.filter(vector_store_id=store_id, vector_store__owner=user)
        .select_related("file")
        .order_by("pk")
    )
