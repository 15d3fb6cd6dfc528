"""Conversations (the API's threads): create, change, rename, archive, delete, clean up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from assistants.api import tool_resources_parse
from chat.citations import thread_vector_store_ids
from chat.events import announce
from chat.models import Conversation, Message, Run
from chat.serializers import thread_object
from chat.services.attachments import message_files_check, message_files_store
from chat.services.common import (
    assistant_usable,
    conversation_locked,
    executor_taking_runs,
    message_count,
    message_fields,
    metadata_validate,
    model_check,
    model_kept,
    text_check,
    title_from,
)
from chat.services.runs import refuse_if_run_active, run_announcement, run_store
from core.errors import ServiceError
from files.services import vector_stores_index_pending

TITLE_MAX_CHARS = 200


def conversation_create(
    *,
    user: AbstractBaseUser,
    conversation_id: str | None = None,
    assistant_id: Any = None,
    title: str = "",
    metadata: dict | None = None,
    messages: Sequence[dict] = (),
    tool_resources: Any = None,
    tool_resources_param: str = "tool_resources",
) -> Conversation:
    """Create a conversation, optionally for an assistant, with initial messages and the vector stores its
    file_search reads (`tool_resources`: the user's own), in one transaction."""
    metadata = metadata_validate(metadata)
    resources = tool_resources_parse(user, tool_resources, param=tool_resources_param)
    assistant = assistant_usable(user=user, assistant_id=assistant_id) if assistant_id is not None else None
    fields = [message_fields(entry, index) for index, entry in enumerate(messages)]
    # The messages' attachments and image files (their indexing is the async caller's: indexing_pending_start).
    files = [
        message_files_check(
            user=user, attachment_ids=entry.get("attachment_ids"), image_file_ids=entry.get("image_file_ids")
        )
        for entry in messages
    ]
    first_user = next((content for role, content, _ in fields if role == Message.Role.USER), "")
    message_count(user, hits=len(fields))
    with transaction.atomic():
        conversation = Conversation.objects.create(
            **({"pk": conversation_id} if conversation_id else {}),
            owner=user,
            assistant=assistant,
            metadata=metadata,
            tool_resources=resources,
            title=title[:TITLE_MAX_CHARS] or (title_from(first_user) if first_user else ""),
        )
        parent = None
        for role, content, message_metadata in fields:
            parent = Message.objects.create(
                conversation=conversation, role=role, content=content, metadata=message_metadata, parent=parent
            )
        if any(files):
            for message, found in zip(conversation.messages.order_by("pk"), files, strict=True):
                if found:
                    message.conversation = conversation
                    message_files_store(message, None, found)
        if parent is not None:
            conversation.current = parent
            conversation.save(update_fields=["current"])
    return conversation


async def conversation_run_create(
    *,
    user: AbstractBaseUser,
    assistant_id: Any,
    conversation_id: str | None = None,
    thread: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[Conversation, Run]:
    """Create a conversation and a run on it as one thing: a run refused leaves no conversation behind.

    `conversation_id` lets a caller listen to the new conversation before anything is announced on it."""
    executor = executor_taking_runs()

    def stored() -> tuple[Conversation, Run]:
        with transaction.atomic():
            conversation = conversation_create(
                user=user, conversation_id=conversation_id, assistant_id=assistant_id, **(thread or {})
            )
            run, _ = run_store(user=user, conversation_id=conversation.pk, assistant_id=assistant_id, **options)
        return conversation, run

    conversation, run = await sync_to_async(stored)()
    await vector_stores_index_pending(user_id=user.pk, vector_store_ids=thread_vector_store_ids(conversation))
    await announce(conversation.pk, [("thread.created", thread_object(conversation)), *run_announcement(run)])
    executor.submit(run.pk)
    return conversation, run


def conversation_update(
    *, user: AbstractBaseUser, conversation_id: str, metadata: dict | None = None, tool_resources: Any = None
) -> Conversation:
    """Replace a conversation's metadata, or its tool_resources (the user's own vector stores), where given."""
    fields = ["updated_at"]
    if metadata is not None:
        metadata = metadata_validate(metadata)
        fields.append("metadata")
    if tool_resources is not None:
        tool_resources = tool_resources_parse(user, tool_resources)
        fields.append("tool_resources")
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id)
        if metadata is not None:
            conversation.metadata = metadata
        if tool_resources is not None:
            conversation.tool_resources = tool_resources
        conversation.save(update_fields=fields)
    return conversation


def conversation_assistant_switch(*, user: AbstractBaseUser, conversation_id: str, assistant_id: Any) -> Conversation:
    """Let another of the assistants the user may use answer from the next message on; refused while a run is
    active. Each answer keeps the name of the assistant that wrote it. The conversation's own model goes with it
    only where the new assistant's provider serves it."""
    assistant = assistant_usable(user=user, assistant_id=assistant_id)
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id, related=True)
        refuse_if_run_active(conversation)
        if not model_kept(conversation=conversation, assistant=assistant):
            conversation.model = ""
        conversation.assistant = assistant
        conversation.save(update_fields=["assistant", "model", "updated_at"])
    return conversation


def conversation_model_switch(*, user: AbstractBaseUser, conversation_id: str, model: Any) -> Conversation:
    """Let the conversation's assistant answer with another model its provider serves, from the next message on
    (empty: the assistant's own); refused while a run is active. Each answer keeps the name of its model."""
    model = model.strip() if isinstance(model, str) else model
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id, related=True)
        refuse_if_run_active(conversation)
        assistant = conversation.assistant
        if assistant is None:
            raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted: pick another.")
        if model:
            model = model_check(assistant=assistant, model=model)
        # The assistant's own model is no choice of the conversation's: it follows the assistant if that changes.
        conversation.model = "" if model in (None, "", assistant.model_name) else model
        conversation.save(update_fields=["model", "updated_at"])
    return conversation


def conversation_delete(*, user: AbstractBaseUser, conversation_id: str) -> None:
    """Delete a conversation with its messages, runs and steps; refused while a run is active."""
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id)
        # A running task would write rows into a conversation that is gone; cancel the run first.
        refuse_if_run_active(conversation)
        conversation.delete()


def conversation_rename(*, user: AbstractBaseUser, conversation_id: str, title: Any) -> Conversation:
    if not isinstance(title, str) or not title.strip():
        raise ServiceError("invalid_title", "A title must not be empty.", param="title")
    text_check(title, code="invalid_title", param="title")
    title = " ".join(title.split())
    if len(title) > TITLE_MAX_CHARS:
        raise ServiceError("title_too_long", f"A title can be at most {TITLE_MAX_CHARS} characters.", param="title")
    # update(), not save(): renaming is not activity and must not move the conversation up the list.
    if not Conversation.objects.filter(pk=conversation_id, owner=user).update(title=title):
        raise ServiceError.not_found("thread", conversation_id)
    return Conversation.objects.get(pk=conversation_id)


def conversation_archive(*, user: AbstractBaseUser, conversation_id: str, archived: bool = True) -> Conversation:
    """Archive (hide from the default list) or unarchive a conversation."""
    archived_at = timezone.now() if archived else None
    if not Conversation.objects.filter(pk=conversation_id, owner=user).update(archived_at=archived_at):
        raise ServiceError.not_found("thread", conversation_id)
    return Conversation.objects.get(pk=conversation_id)


def conversations_cleanup(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete conversations idle for this many days, with their messages, runs and steps; return how many.

    A conversation with a run still going is kept, however old its last message."""
    before = timezone.now() - timedelta(days=older_than_days)
    stale = Conversation.objects.filter(updated_at__lt=before).exclude(runs__status__in=Run.ACTIVE)
    if dry_run:
        return stale.count()
    _, deleted = stale.delete()
    return deleted.get(Conversation._meta.label, 0)
