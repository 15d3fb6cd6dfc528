"""Reads for conversations: access-scoped lookups and the model's input."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from chat.models import Conversation, Message, Run, RunStep
from core.errors import ServiceError


def conversation_list(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).select_related("assistant").order_by("-updated_at")


# Lookups every interface uses: another user's object is `not_found`, exactly like a missing one.


def conversation_get_for_user(*, user: AbstractBaseUser, conversation_id: Any) -> Conversation:
    try:
        return Conversation.objects.select_related("assistant").get(pk=_id(conversation_id), owner=user)
    except Conversation.DoesNotExist:
        raise ServiceError.not_found("thread", conversation_id) from None


def message_get_for_user(*, user: AbstractBaseUser, conversation_id: Any, message_id: Any) -> Message:
    try:
        return Message.objects.get(pk=_id(message_id), conversation_id=_id(conversation_id), conversation__owner=user)
    except Message.DoesNotExist:
        raise ServiceError.not_found("message", message_id) from None


def run_get_for_user(
    *, user: AbstractBaseUser, run_id: Any, conversation_id: Any = None, for_update: bool = False
) -> Run:
    """The user's run; with `conversation_id`, only if it belongs to that conversation; `for_update` locks it."""
    scope = {"conversation__owner": user}
    if conversation_id is not None:
        scope["conversation_id"] = _id(conversation_id)
    runs = Run.objects.select_related("assistant")
    runs = runs.select_for_update(of=("self",)) if for_update else runs
    try:
        return runs.get(pk=_id(run_id, param="run_id"), **scope)
    except Run.DoesNotExist:
        raise ServiceError.not_found("run", run_id) from None


def run_step_get_for_user(*, user: AbstractBaseUser, conversation_id: Any, run_id: Any, step_id: Any) -> RunStep:
    run = run_get_for_user(user=user, run_id=run_id, conversation_id=conversation_id)
    try:
        return RunStep.objects.select_related("run").get(pk=_id(step_id), run=run)
    except RunStep.DoesNotExist:
        raise ServiceError.not_found("run step", step_id) from None


def _id(value: Any, *, param: str | None = None) -> str:
    """An object id as callers send it; anything but a string is refused before it reaches a query."""
    if not isinstance(value, str):
        name = param or "id"
        raise ServiceError(f"invalid_{name}", f"{name} must be a string.", param=param)
    return value


def conversation_active_run(*, conversation_id: str) -> Run | None:
    return Run.objects.filter(conversation_id=conversation_id, status__in=Run.ACTIVE).order_by("-id").first()


def sort_key(obj: Message | RunStep | Run) -> str:
    # Public ids share one generator whose suffix sorts in creation order.
    return obj.pk.split("_", 1)[1]


def conversation_history(*, conversation_id: str, since: Any = None) -> list[Message | RunStep]:
    """Messages and tool steps of a conversation, in the order they happened (from `since` on, if given)."""
    messages = Message.objects.filter(conversation_id=conversation_id)
    steps = RunStep.objects.filter(run__conversation_id=conversation_id, type=RunStep.Type.TOOL_CALLS)
    if since is not None:
        messages, steps = messages.filter(created_at__gte=since), steps.filter(created_at__gte=since)
    return sorted([*messages, *steps], key=sort_key)


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


# --- The chat pages: lists, search, the timeline and its snapshot ------------------------------------------------


def conversation_filter(*, user: AbstractBaseUser, query: str = "", archived: bool = False) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first; `query` matches titles and message text."""
    conversations = Conversation.objects.filter(owner=user, archived_at__isnull=not archived)
    query = query.strip()
    if query:
        matching = Message.objects.filter(conversation__owner=user, content__icontains=query).values("conversation_id")
        conversations = conversations.filter(Q(title__icontains=query) | Q(pk__in=matching))
    return conversations.select_related("assistant").order_by("-updated_at", "-pk")
