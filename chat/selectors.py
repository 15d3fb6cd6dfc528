"""Reads for conversations: access-scoped lookups and the model's input."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from chat.markdown import message_html_add
from chat.models import Conversation, Message, Run, RunStep
from chat.serializers import message_object, run_object, run_step_object


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


# --- The chat pages: lists, search, the timeline and its snapshot ------------------------------------------------


def conversation_filter(*, user: AbstractBaseUser, query: str = "", archived: bool = False) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first; `query` matches titles and message text."""
    conversations = Conversation.objects.filter(owner=user, archived_at__isnull=not archived)
    query = query.strip()
    if query:
        matching = Message.objects.filter(conversation__owner=user, content__icontains=query).values("conversation_id")
        conversations = conversations.filter(Q(title__icontains=query) | Q(pk__in=matching))
    return conversations.select_related("assistant").order_by("-updated_at", "-pk")


TimelineEntry = tuple[str, "Message | RunStep | Run"]


def conversation_timeline(*, conversation_id: str) -> list[TimelineEntry]:
    """What the chat page shows, in order: messages, tool steps, and notes for runs that ended badly.

    A run's note sits after the run's last message or step, where its answer would be. A run that
    left nothing behind (its answer was regenerated) gets no note unless it is the latest run.
    """
    entries: list[TimelineEntry] = [
        ("message" if isinstance(item, Message) else "step", item)
        for item in conversation_history(conversation_id=conversation_id)
    ]
    latest = Run.objects.filter(conversation_id=conversation_id).order_by("-id").values_list("pk", flat=True).first()
    ended = Run.objects.filter(conversation_id=conversation_id).exclude(status__in=[Run.Status.COMPLETED, *Run.ACTIVE])
    for run in ended.order_by("id"):
        positions = [i for i, (kind, item) in enumerate(entries) if kind != "run" and item.run_id == run.pk]
        if positions:
            entries.insert(positions[-1] + 1, ("run", run))
        elif run.pk == latest:
            entries.append(("run", run))
    return entries


def conversation_snapshot(*, conversation_id: str) -> dict[str, Any]:
    """The whole visible state of a conversation as one frame, so a (re)connected page can redraw from it."""
    conversation = Conversation.objects.select_related("assistant").get(pk=conversation_id)
    assistant_id = conversation.assistant_id
    timeline = []
    for kind, item in conversation_timeline(conversation_id=conversation_id):
        if kind == "message":
            data = message_html_add(message_object(item))
        elif kind == "step":
            data = run_step_object(item, thread_id=conversation_id, assistant_id=assistant_id)
        else:
            data = run_object(item)
        timeline.append({"kind": kind, "data": data})
    active = conversation_active_run(conversation_id=conversation_id)
    latest = Run.objects.filter(conversation_id=conversation_id).order_by("-id").first()
    return {
        "thread_id": conversation_id,
        "title": conversation.title,
        "timeline": timeline,
        "active_run": run_object(active) if active else None,
        "latest_run": run_object(latest) if latest else None,
        "has_user_message": Message.objects.filter(conversation_id=conversation_id, role=Message.Role.USER).exists(),
    }
