"""Reads for conversations: access-scoped lookups and the model's input."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from chat.models import Conversation, Message, Run, RunStep


def conversation_list(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).select_related("assistant").order_by("-updated_at")


def conversation_get(*, user: AbstractBaseUser, thread_id: str) -> Conversation:
    """Return the user's conversation; another user's is DoesNotExist, like a missing one."""
    return Conversation.objects.select_related("assistant").get(pk=thread_id, owner=user)


def conversation_active_run(*, conversation_id: str) -> Run | None:
    return Run.objects.filter(conversation_id=conversation_id, status__in=Run.ACTIVE).order_by("-id").first()


def _sort_key(obj: Message | RunStep) -> str:
    # Public ids share one generator whose suffix sorts in creation order.
    return obj.pk.split("_", 1)[1]


def conversation_history(*, conversation_id: str) -> list[Message | RunStep]:
    """Messages and tool steps of a conversation, in the order they happened."""
    messages = list(Message.objects.filter(conversation_id=conversation_id))
    steps = list(RunStep.objects.filter(run__conversation_id=conversation_id, type=RunStep.Type.TOOL_CALLS))
    return sorted([*messages, *steps], key=_sort_key)


def conversation_model_input(*, conversation_id: str) -> list[dict[str, Any]]:
    """Build the model's input from stored messages and tool steps, so nothing is stored twice."""
    items: list[dict[str, Any]] = []
    for entry in conversation_history(conversation_id=conversation_id):
        if isinstance(entry, Message):
            if entry.content:
                items.append({"role": entry.role, "content": entry.content})
            continue
        if entry.status == RunStep.Status.IN_PROGRESS or not entry.tool_call_id:
            continue  # a call without an answer would be rejected by every provider
        if entry.status not in (RunStep.Status.COMPLETED, RunStep.Status.FAILED):
            continue
        items.append(
            {
                "type": "function_call",
                "call_id": entry.tool_call_id,
                "name": entry.tool_name,
                "arguments": entry.arguments or "{}",
            }
        )
        items.append(
            {"type": "function_call_output", "call_id": entry.tool_call_id, "output": entry.output or entry.error}
        )
    return items
