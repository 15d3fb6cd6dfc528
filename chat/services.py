"""Workflows for conversations, messages and runs. Every interface calls these."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from assistants.models import Assistant
from chat.errors import ServiceError
from chat.events import event_send
from chat.executor import get_executor, runs_expire_stale
from chat.models import Conversation, Message, Run
from chat.selectors import conversation_active_run
from chat.serializers import message_object, run_object

TITLE_LENGTH = 60


def conversation_create(*, user: AbstractBaseUser, assistant_id: str, title: str = "") -> Conversation:
    try:
        assistant = Assistant.objects.usable_by(user).get(pk=assistant_id)
    except Assistant.DoesNotExist:
        raise ServiceError("assistant_not_found", f"No assistant found with id '{assistant_id}'.") from None
    return Conversation.objects.create(owner=user, assistant=assistant, title=title[:200])


def message_validate(content: Any) -> str:
    limit = settings.SWITCHBOARD["MESSAGE_MAX_CHARS"]
    if not isinstance(content, str):
        raise ServiceError("invalid_content", "Message content must be a string.")
    if not content.strip():
        raise ServiceError("invalid_content", "Message content must not be empty.")
    if len(content) > limit:
        raise ServiceError("content_too_long", f"Message content is over {limit} characters.")
    return content


def _title_from(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def message_store(*, user: AbstractBaseUser, thread_id: str, content: Any) -> tuple[Message, Run]:
    """Store the user's message and a queued run in one transaction."""
    content = message_validate(content)
    with transaction.atomic():
        try:
            conversation = (
                Conversation.objects.select_for_update(of=("self",))
                .select_related("assistant__provider")
                .get(pk=thread_id, owner=user)
            )
        except Conversation.DoesNotExist:
            raise ServiceError("not_found", "Conversation not found.") from None
        if conversation_active_run(conversation_id=conversation.pk) is not None:
            runs_expire_stale()
            if conversation_active_run(conversation_id=conversation.pk) is not None:
                raise ServiceError("run_active", "Wait for the current answer to finish, or stop it.")
        assistant = conversation.assistant
        if assistant is None:
            raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
        message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=content)
        run = Run.objects.create(
            conversation=conversation,
            assistant=assistant,
            model=assistant.model_name,
            instructions=assistant.instructions,
        )
        message.run = run
        message.save(update_fields=["run"])
        conversation.title = conversation.title or _title_from(content)
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "updated_at"])
    return message, run


async def message_create(*, user: AbstractBaseUser, thread_id: str, content: Any) -> tuple[Message, Run]:
    """Store a user message, announce it, and start the run that answers it."""
    message, run = await sync_to_async(message_store)(user=user, thread_id=thread_id, content=content)
    await event_send(thread_id, "thread.message.created", message_object(message))
    await event_send(thread_id, "thread.run.created", run_object(run))
    await event_send(thread_id, "thread.run.queued", run_object(run))
    get_executor().submit(run.pk)
    return message, run


async def run_cancel(*, user: AbstractBaseUser, run_id: Any) -> Run:
    """Stop a run; a run whose task is gone is cancelled in place."""
    if not isinstance(run_id, str):
        raise ServiceError("invalid_run_id", "run_id must be a string.")
    try:
        run = await Run.objects.aget(pk=run_id, conversation__owner=user)
    except Run.DoesNotExist:
        raise ServiceError("not_found", f"No run found with id '{run_id}'.") from None
    if not run.is_active:
        raise ServiceError("run_not_active", f"The run is already {run.status}.")
    if get_executor().cancel(run.pk):
        return run
    updated = await Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).aupdate(
        status=Run.Status.CANCELLED, cancelled_at=timezone.now()
    )
    if updated:
        run = await Run.objects.aget(pk=run.pk)
        await event_send(run.conversation_id, "thread.run.cancelled", run_object(run))
    return run
