"""Messages: where a message is stored and announced, with or without the run that answers it."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chat.events import announce, announce_queue
from chat.models import Message, Run
from chat.selectors import message_get_for_user
from chat.serializers import message_object
from chat.services.common import (
    content_validate,
    conversation_locked,
    executor_taking_runs,
    message_count,
    metadata_validate,
    role_validate,
    run_new,
    title_from,
)
from chat.services.runs import refuse_if_run_active, run_admit, run_announcement
from core.errors import ServiceError


def _message_store(
    *, user: AbstractBaseUser, conversation_id: Any, content: Any, role: Any, metadata: Any, answer: bool
) -> tuple[Message, Run | None]:
    """Store the message, and with `answer` a queued run for it, in one transaction."""
    content = content_validate(content, param="content")
    role = role_validate(role)
    metadata = metadata_validate(metadata)
    if answer and role != Message.Role.USER:
        raise ServiceError("invalid_role", "Only a user message can be answered.", param="role")
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id, related=answer)
        run = None
        if answer:
            assistant = conversation.assistant
            if assistant is None:
                raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
            run_admit(conversation, user)
            run = run_new(conversation=conversation, assistant=assistant, instructions=assistant.instructions)
        else:
            refuse_if_run_active(conversation)
            message_count(user)
        message = Message.objects.create(
            conversation=conversation, role=role, content=content, metadata=metadata, run=run
        )
        if not conversation.title and role == Message.Role.USER:
            conversation.title = title_from(content)
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "updated_at"])
    return message, run


async def message_create(
    *,
    user: AbstractBaseUser,
    conversation_id: Any,
    content: Any,
    role: Any = Message.Role.USER,
    metadata: Any = None,
    answer: bool = False,
) -> tuple[Message, Run | None]:
    """Add a message to a conversation and announce it; with `answer`, also start the run that answers it.

    Without `answer` (the API's and MCP's create message) no run starts, and a conversation with an active run
    refuses the message; with it (the chat page) the conversation's assistant answers.
    """
    executor = executor_taking_runs() if answer else None
    message, run = await sync_to_async(_message_store)(
        user=user, conversation_id=conversation_id, content=content, role=role, metadata=metadata, answer=answer
    )
    events = [("thread.message.created", message_object(message))]
    if run is None:
        await announce(message.conversation_id, events)
        return message, None
    # The run claims itself and reads its input while it is announced: the conversation's events go out in
    # the order they were said (chat.events), so its own follow these.
    announced = announce_queue(message.conversation_id, [*events, *run_announcement(run)])
    executor.submit(run.pk, loaded=run)
    await announced
    return message, run


def message_update(*, user: AbstractBaseUser, conversation_id: str, message_id: str, metadata: dict) -> Message:
    """Replace a message's metadata."""
    metadata = metadata_validate(metadata)
    message = message_get_for_user(user=user, conversation_id=conversation_id, message_id=message_id)
    message.metadata = metadata
    message.save(update_fields=["metadata"])
    return message


def _message_delete(*, user: AbstractBaseUser, conversation_id: str, message_id: str) -> str:
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id)
        message = message_get_for_user(user=user, conversation_id=conversation.pk, message_id=message_id)
        # Deleting history under a run that reads it would change the model's input halfway.
        refuse_if_run_active(conversation)
        message.delete()
    return message_id


async def message_delete(*, user: AbstractBaseUser, conversation_id: str, message_id: str) -> dict[str, Any]:
    """Delete a message of a conversation with no run going; every open page drops it."""
    deleted = await sync_to_async(_message_delete)(user=user, conversation_id=conversation_id, message_id=message_id)
    data = {"id": deleted, "object": "thread.message.deleted", "deleted": True}
    await announce(conversation_id, [("thread.message.deleted", data)])
    return data
