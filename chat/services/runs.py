"""Runs: start, cancel, wait, answer again, expire (decisions on a waiting tool call: `decisions.py`).

Each workflow checks its input, stores, announces what changed to the conversation (`chat.events`) and hands
runs to the executor. Every interface calls these, so a cancel means the same on the page, `/v1/` and MCP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from assistants.models import Assistant
from chat.events import CONTROL_GROUP, announce, conversation_group, events_of
from chat.executor import get_executor
from chat.expiry import runs_expire_stale
from chat.models import Conversation, Message, Run
from chat.selectors import conversation_active_run, conversation_branch, conversation_get_for_user, run_get_for_user
from chat.serializers import RESERVED_METADATA, message_object, run_object
from chat.services.common import (
    assistant_usable,
    branch_shown,
    conversation_locked,
    executor_taking_runs,
    message_count,
    message_fields,
    metadata_validate,
    model_check,
    model_kept,
    refuse_if_busy,
    run_new,
)
from chat.services.quotas import budget_check, quota_limits
from core.errors import ServiceError

TERMINAL_STATUSES = frozenset(
    {Run.Status.COMPLETED, Run.Status.FAILED, Run.Status.CANCELLED, Run.Status.INCOMPLETE, Run.Status.EXPIRED}
)
# A waiting caller stops waiting at these: the run is over, or it needs the caller's decision.
SETTLED_STATUSES = TERMINAL_STATUSES | {Run.Status.REQUIRES_ACTION}
RUN_WAIT_RECHECK_SECONDS = 2.0
# How long a cancel waits for the run's task to record that it stopped, so every interface answers the same.
CANCEL_SETTLE_SECONDS = 5.0


def run_announcement(run: Run) -> list[tuple[str, dict[str, Any]]]:
    created = run_object(run)
    return [("thread.run.created", created), ("thread.run.queued", created)]


# --- Refusals that every workflow starting a run shares -----------------------------------------------------------


def refuse_if_run_active(conversation: Conversation) -> None:
    if conversation_active_run(conversation_id=conversation.pk) is not None:
        runs_expire_stale()  # a process that died leaves its runs active until someone expires them
        active = conversation_active_run(conversation_id=conversation.pk)
        if active is not None:
            raise ServiceError(
                "run_active", f"Thread {conversation.pk} has an active run {active.pk}; wait for it or cancel it."
            )


def refuse_if_active_or_busy(conversation: Conversation, user: AbstractBaseUser, *, limit: int) -> None:
    """No second run in a conversation, and only `limit` per user at once: one query when neither applies."""
    active = list(Run.objects.filter(conversation__owner=user, status__in=Run.ACTIVE).values_list("conversation_id"))
    if (conversation.pk,) in active or (limit and len(active) >= limit):
        refuse_if_run_active(conversation)
        refuse_if_busy(user, limit=limit)


def run_admit(conversation: Conversation, user: AbstractBaseUser, *, hits: int = 1) -> None:
    """Let the user start a run in this conversation, by their quota: no other run in it, not too many at once,
    within their monthly budget, then counted against their message rate (`hits` messages and runs)."""
    limits = quota_limits(user)
    refuse_if_active_or_busy(conversation, user, limit=limits.concurrent_runs)
    budget_check(user, limits)
    message_count(user, hits=hits, limits=limits)


# --- Start ----------------------------------------------------------------------------------------------------------


def run_store(
    *,
    user: AbstractBaseUser,
    conversation_id: str,
    assistant_id: str,
    instructions: str | None = None,
    additional_instructions: str | None = None,
    metadata: dict | None = None,
    model: str | None = None,
    additional_messages: Sequence[dict] = (),
    functions: list[dict] | None = None,
    overrides: dict | None = None,
) -> tuple[Run, list[Message]]:
    """Store a queued run, after any additional messages, in one transaction; one active run per conversation."""
    metadata = metadata_validate(metadata)
    added = [
        message_fields(entry, index, field="additional_messages") for index, entry in enumerate(additional_messages)
    ]
    for name, value in (("instructions", instructions), ("additional_instructions", additional_instructions)):
        if value is not None and not isinstance(value, str):
            raise ServiceError("invalid_instructions", f"{name} must be a string.", param=name)
    assistant = assistant_usable(user=user, assistant_id=assistant_id)
    if model is not None:
        model = model_check(assistant=assistant, model=model)
    text = assistant.instructions if instructions is None else instructions
    if additional_instructions:
        text = f"{text}\n\n{additional_instructions}" if text else additional_instructions
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id)
        run_admit(conversation, user, hits=1 + len(added))
        if conversation.assistant_id is None:
            if not model_kept(conversation=conversation, assistant=assistant):
                conversation.model = ""
            conversation.assistant = assistant
        tip = branch_shown(conversation).tip
        messages = []
        for role, content, message_metadata in added:
            messages.append(
                Message.objects.create(
                    conversation=conversation, role=role, content=content, metadata=message_metadata, parent_id=tip
                )
            )
            tip = messages[-1].pk
        run = run_new(
            conversation=conversation,
            assistant=assistant,
            instructions=text,
            metadata=metadata,
            functions=functions,
            overrides=overrides,
            reply_to_id=tip,
            model=model,
        )
        if messages:
            conversation.current = messages[-1]
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["assistant", "model", "current", "updated_at"])
    return run, messages


async def run_create(*, user: AbstractBaseUser, conversation_id: str, assistant_id: str | None, **options: Any) -> Run:
    """Store a queued run for a conversation (its own assistant unless one is given), announce it, start it."""
    executor = executor_taking_runs()
    if assistant_id is None:
        assistant_id = await sync_to_async(_conversation_assistant)(user=user, conversation_id=conversation_id)
    run, messages = await sync_to_async(run_store)(
        user=user, conversation_id=conversation_id, assistant_id=assistant_id, **options
    )
    await announce(
        conversation_id, [*(("thread.message.created", message_object(m)) for m in messages), *run_announcement(run)]
    )
    executor.submit(run.pk)
    return run


def _conversation_assistant(*, user: AbstractBaseUser, conversation_id: str) -> str:
    conversation = conversation_get_for_user(user=user, conversation_id=conversation_id)
    if conversation.assistant_id is None:
        raise ServiceError(
            "missing_assistant",
            f"Thread '{conversation_id}' has no assistant; pass assistant_id.",
            param="assistant_id",
        )
    return conversation.assistant_id


def _regenerate_store(*, user: AbstractBaseUser, conversation_id: str) -> Run:
    """Answer the last user message of the branch shown again with a new queued run, in one transaction.

    The old answer stays, as another version beside the new one: the branch shown (and so the model's
    input) holds one of them at a time.
    """
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id)
        run_admit(conversation, user)  # a new answer costs what a new message does
        assistant = Assistant.objects.filter(pk=conversation.assistant_id).select_related("provider").first()
        if assistant is None:
            raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
        branch = conversation_branch(conversation_id=conversation.pk, current_id=conversation.current_id)
        question = Message.objects.filter(pk=branch.last_question).first() if branch.last_question else None
        if question is None:
            raise ServiceError("nothing_to_regenerate", "There is no message to answer yet.")
        run = run_new(
            conversation=conversation, assistant=assistant, instructions=assistant.instructions, reply_to_id=question.pk
        )
        question.run = run
        question.save(update_fields=["run"])
        conversation.current = question
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["current", "updated_at"])
    run.question_id = question.pk  # where every open page cuts its timeline
    return run


async def run_regenerate(*, user: AbstractBaseUser, conversation_id: str) -> Run:
    """Answer the last user message again with a new run; every open page drops the old answer."""
    executor = executor_taking_runs()
    run = await sync_to_async(_regenerate_store)(user=user, conversation_id=conversation_id)
    await announce(conversation_id, [("thread.timeline.truncated", {"after": run.question_id}), *run_announcement(run)])
    executor.submit(run.pk)
    return run


# --- Stop -----------------------------------------------------------------------------------------------------------


async def run_cancel(*, user: AbstractBaseUser, run_id: Any, conversation_id: str | None = None) -> Run:
    """Stop a run and return it once it has stopped (or is on its way there, if its process is slow to say so).

    A run of this process is cancelled in its task; one another live process owns is asked to stop through
    the control group; one whose process is gone is cancelled in place.
    """
    run = await sync_to_async(run_get_for_user)(user=user, run_id=run_id, conversation_id=conversation_id)
    if not run.is_active:
        raise ServiceError("run_not_active", f"The run is already {run.status}.")
    if not await _cancel_request(run):
        updated = await Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).aupdate(
            status=Run.Status.CANCELLED, cancelled_at=timezone.now(), paused_state=""
        )
        if updated:
            run = await Run.objects.aget(pk=run.pk)
            await announce(run.conversation_id, [("thread.run.cancelled", run_object(run))])
        return await Run.objects.aget(pk=run.pk)
    run = await run_wait(user=user, run_id=run.pk, timeout=CANCEL_SETTLE_SECONDS, until=TERMINAL_STATUSES)
    if run.is_active:
        run.status = Run.Status.CANCELLING  # the owner's answer is on its way: say so, as OpenAI does
    return run


async def _cancel_request(run: Run) -> bool:
    """Ask whoever runs this run to stop it; False if nobody does."""
    if get_executor().cancel(run.pk):
        return True
    fresh = timezone.now() - timedelta(seconds=settings.SWITCHBOARD["RUN_STALE_SECONDS"])
    # A run waiting for the answer to a server's question is under way too: its call is open in its process.
    under_way = run.status == Run.Status.IN_PROGRESS or run.pending_elicitation is not None
    if not under_way or not run.heartbeat_at or run.heartbeat_at <= fresh:
        return False
    # Another live process owns the task: it reports `cancelled` when it has stopped.
    if await Run.objects.filter(pk=run.pk, status=run.status).aupdate(status=Run.Status.CANCELLING):
        run.status = Run.Status.CANCELLING
        await announce(run.conversation_id, [("thread.run.cancelling", run_object(run))])
    await get_channel_layer().group_send(CONTROL_GROUP, {"type": "run.cancel", "run_id": run.pk})
    return True


# --- Wait, update -------------------------------------------------------------------------------------------------


async def run_wait(
    *,
    user: AbstractBaseUser,
    run_id: str,
    timeout: float,  # noqa: ASYNC109 - a deadline, not a cancel
    until: frozenset[str] = SETTLED_STATUSES,
) -> Run:
    """Return the run once its status is in `until` (by default: over, or waiting on the user), or as it is
    when `timeout` seconds have passed."""
    run = await sync_to_async(run_get_for_user)(user=user, run_id=run_id)
    layer = get_channel_layer()
    if run.status in until or timeout <= 0:
        return run
    deadline = asyncio.get_running_loop().time() + timeout
    group = conversation_group(run.conversation_id)
    channel = await layer.new_channel() if layer is not None else None
    if channel is not None:
        await layer.group_add(group, channel)
    try:
        while True:
            # Subscribed first, then read: no status change can fall between the two.
            run = await Run.objects.aget(pk=run.pk)
            remaining = deadline - asyncio.get_running_loop().time()
            if run.status in until or remaining <= 0:
                return run
            # Re-read now and then even without events, in case an announcement was missed.
            await _event_wait(layer, channel, run.pk, until, min(remaining, RUN_WAIT_RECHECK_SECONDS))
    finally:
        if channel is not None:
            await layer.group_discard(group, channel)


async def _event_wait(layer: Any, channel: str | None, run_id: str, until: frozenset[str], seconds: float) -> None:
    """Wait up to `seconds` for an event saying this run reached one of `until`."""
    if channel is None:
        await asyncio.sleep(seconds)
        return
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await layer.receive(channel)
                for event, data in events_of(message):
                    if data.get("id") == run_id and event.removeprefix("thread.run.") in until:
                        return
    except TimeoutError:
        return


def run_update(*, user: AbstractBaseUser, run_id: str, conversation_id: str, metadata: dict) -> Run:
    """Replace a run's metadata, keeping the paused tool calls Switchboard stores beside it."""
    metadata = metadata_validate(metadata)
    with transaction.atomic():
        try:
            run = Run.objects.select_for_update(of=("self",)).get(
                pk=run_id, conversation_id=conversation_id, conversation__owner=user
            )
        except Run.DoesNotExist:
            raise ServiceError.not_found("run", run_id) from None
        for key in RESERVED_METADATA:
            metadata.pop(key, None)
            if key in (run.metadata or {}):
                metadata[key] = run.metadata[key]
        run.metadata = metadata
        run.save(update_fields=["metadata"])
    return run
