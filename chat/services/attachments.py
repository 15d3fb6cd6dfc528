"""Files on a message, as OpenAI's threads take them: `attachments` go into the thread's own vector store (made
with the first one) for file_search, and `image_file` parts go to the model as images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from chat.citations import thread_vector_store_ids
from chat.models import Message, Run
from core.errors import ServiceError
from files.indexing import indexing_schedule
from files.models import File
from files.services import THREAD_STORE_DAYS, files_of_user, store_files_add

ATTACHMENTS_MAX = 20
IMAGE_MAX_BYTES = 20 * 1024 * 1024


@dataclass
class MessageFiles:
    attachments: list[File] = field(default_factory=list)
    images: list[File] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.attachments or self.images)


def message_files_check(
    *, user: AbstractBaseUser, attachment_ids: Any, image_file_ids: Any, file_ids: Any = None
) -> MessageFiles:
    """The user's files a message names (another user's file is not found); images must be images. `file_ids`
    (the chat page's attached files) go where their type says: images to the model, the rest to file_search."""
    attachment_ids, image_file_ids = attachment_ids or [], image_file_ids or []
    if file_ids:
        attached = files_of_user(user=user, file_ids=file_ids, param="file_ids")
        image_file_ids = [*image_file_ids, *(f.pk for f in attached if f.content_type.startswith("image/"))]
        attachment_ids = [*attachment_ids, *(f.pk for f in attached if not f.content_type.startswith("image/"))]
    if len(attachment_ids) + len(image_file_ids) > ATTACHMENTS_MAX:
        raise ServiceError("invalid_value", f"A message takes at most {ATTACHMENTS_MAX} files.", param="attachments")
    files = MessageFiles(
        attachments=files_of_user(user=user, file_ids=attachment_ids, param="attachments"),
        images=files_of_user(user=user, file_ids=image_file_ids, param="content"),
    )
    for image in files.images:
        if not image.content_type.startswith("image/"):
            raise ServiceError("invalid_value", f"The file '{image.filename}' is not an image.", param="content")
        if image.bytes > IMAGE_MAX_BYTES:
            raise ServiceError(
                "file_too_large", f"The image '{image.filename}' is over {IMAGE_MAX_BYTES} bytes.", param="content"
            )
    for attachment in files.attachments:
        if attachment.content_type.startswith("image/"):
            raise ServiceError(
                "invalid_value",
                f"The image '{attachment.filename}' has no text to search: send it as an image_file content part.",
                param="attachments",
            )
    return files


def message_files_store(message: Message, run: Run | None, files: MessageFiles) -> list[int]:
    """Put a stored message's checked files in place (its conversation's store made with the first attachment);
    the entries to index, once committed."""
    conversation = message.conversation
    with transaction.atomic():
        entry_ids: list[int] = []
        if files.attachments:
            stores = thread_vector_store_ids(conversation)
            store, entry_ids = store_files_add(
                user=conversation.owner,
                vector_store_id=stores[0] if stores else None,
                files=files.attachments,
                name=f"Files of {conversation.title or conversation.pk}",
                expires_days=THREAD_STORE_DAYS,
            )
            if store.pk not in stores:
                conversation.tool_resources = {"file_search": {"vector_store_ids": [store.pk, *stores]}}
                type(conversation).objects.filter(pk=conversation.pk).update(tool_resources=conversation.tool_resources)
            if run is not None:
                # The run was read with the conversation before its store existed.
                run.conversation.tool_resources = conversation.tool_resources
        message.attachments = [{"file_id": file.pk, "tools": [{"type": "file_search"}]} for file in files.attachments]
        message.image_file_ids = [file.pk for file in files.images]
        message.save(update_fields=["attachments", "image_file_ids"])
    return entry_ids


async def message_files_attach(*, message: Message, run: Run | None, files: MessageFiles) -> None:
    """Put a stored message's files in place: its attachments in the thread's store (indexed in the background;
    the run's file_search waits for them), its images on it."""
    entry_ids = await sync_to_async(message_files_store)(message, run, files)
    indexing_schedule(entry_ids)
