"""Workflows for conversations, messages and runs. Every interface calls these."""

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
from chat.errors import ServiceError
from chat.events import conversation_group, event_send, events_of, events_send
from chat.executor import Executor, get_executor, run_cancel_elsewhere, runs_expire_stale
from chat.models import Conversation, Message, Run, RunStep
from chat.selectors import conversation_active_run, conversation_snapshot
from chat.serializers import message_object, run_object
from core.ratelimit import RateLimited, rate_limit_hit

TITLE_LENGTH = 60


def conversation_create(*, user: AbstractBaseUser, assistant_id: str, title: str = "") -> Conversation:
    try:
        assistant = Assistant.objects.usable_by(user).get(pk=assistant_id)
    except Assistant.DoesNotExist:
        raise ServiceError("assistant_not_found", f"No assistant found with id '{assistant_id}'.") from None
    return Conversation.objects.create(owner=user, assistant=assistant, title=title[:200])


def conversations_cleanup(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete conversations idle for this many days, with their messages, runs and steps; return how many.

    A conversation with a run still going is kept, however old its last message."""
    before = timezone.now() - timedelta(days=older_than_days)
    stale = Conversation.objects.filter(updated_at__lt=before).exclude(runs__status__in=Run.ACTIVE)
    if dry_run:
        return stale.count()
    _, deleted = stale.delete()
    return deleted.get(Conversation._meta.label, 0)


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
                .select_related("assistant__provider", "owner")
                .get(pk=thread_id, owner=user)
            )
        except Conversation.DoesNotExist:
            raise ServiceError("not_found", "Conversation not found.") from None
        _refuse_if_active_or_busy(conversation, user)
        _count_message(user)
        assistant = conversation.assistant
        if assistant is None:
            raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
        run = Run.objects.create(
            conversation=conversation,
            assistant=assistant,
            model=assistant.model_name,
            instructions=assistant.instructions,
        )
        message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=content, run=run)
        conversation.title = conversation.title or _title_from(content)
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "updated_at"])
    return message, run


def _executor_taking_runs() -> Executor:
    """The executor, or a clear refusal while this process shuts down."""
    executor = get_executor()
    if not executor.accepting:
        raise ServiceError("shutting_down", "The server is restarting. Try again in a moment.")
    return executor


async def message_create(*, user: AbstractBaseUser, thread_id: str, content: Any) -> tuple[Message, Run]:
    """Store a user message, announce it, and start the run that answers it."""
    executor = _executor_taking_runs()
    message, run = await sync_to_async(message_store)(user=user, thread_id=thread_id, content=content)
    created = run_object(run)
    announcing = asyncio.ensure_future(
        events_send(
            thread_id,
            [
                ("thread.message.created", message_object(message)),
                ("thread.run.created", created),
                ("thread.run.queued", created),
            ],
        )
    )
    # The run claims itself and reads its input while it is announced; its own events follow these.
    executor.submit(run.pk, loaded=run, after=announcing)
    await asyncio.shield(announcing)
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
    fresh = timezone.now() - timedelta(seconds=settings.SWITCHBOARD["RUN_STALE_SECONDS"])
    if run.status == Run.Status.IN_PROGRESS and run.heartbeat_at and run.heartbeat_at > fresh:
        # Another live process owns the task: ask it to stop; it reports `cancelled` when it has.
        claimed = await Run.objects.filter(pk=run.pk, status=Run.Status.IN_PROGRESS).aupdate(
            status=Run.Status.CANCELLING
        )
        if claimed:
            run.status = Run.Status.CANCELLING
            await event_send(run.conversation_id, "thread.run.cancelling", run_object(run))
        await run_cancel_elsewhere(run.pk)
        return run
    updated = await Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).aupdate(
        status=Run.Status.CANCELLED, cancelled_at=timezone.now(), paused_state=""
    )
    if updated:
        run = await Run.objects.aget(pk=run.pk)
        await event_send(run.conversation_id, "thread.run.cancelled", run_object(run))
    return run


# --- Threads, messages and runs as the Assistants API sees them ------------------------------------------------

# OpenAI's metadata rules, so metadata written anywhere reads back through any Assistants client.
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512
TERMINAL_STATUSES = frozenset(
    {Run.Status.COMPLETED, Run.Status.FAILED, Run.Status.CANCELLED, Run.Status.INCOMPLETE, Run.Status.EXPIRED}
)
# A waiting caller stops waiting at these: the run is over, or it needs the caller's decision.
SETTLED_STATUSES = TERMINAL_STATUSES | {Run.Status.REQUIRES_ACTION}
# The run's own metadata also carries the paused tool calls and the decisions on them; callers never overwrite these.
RESERVED_RUN_METADATA = ("required_action", "approvals")
RUN_WAIT_RECHECK_SECONDS = 2.0


def run_decide(*, user: AbstractBaseUser, run_id: Any, tool_call_id: Any, approve: bool, reason: str = "") -> Run:
    """Record the user's decision on one waiting tool call; queue the run once every call is decided."""
    if not isinstance(run_id, str):
        raise ServiceError("invalid_run_id", "run_id must be a string.", param="run_id")
    if not isinstance(tool_call_id, str):
        raise ServiceError("invalid_tool_call_id", "tool_call_id must be a string.", param="tool_call_id")
    with transaction.atomic():
        try:
            run = Run.objects.select_for_update(of=("self",)).get(pk=run_id, conversation__owner=user)
        except Run.DoesNotExist:
            raise ServiceError("not_found", f"No run found with id '{run_id}'.") from None
        if run.status != Run.Status.REQUIRES_ACTION:
            raise ServiceError("run_not_paused", "This run is not waiting for a tool approval.")
        if tool_call_id not in run.pending_tool_call_ids:
            raise ServiceError(
                "invalid_tool_call_id", f"The run is not waiting on tool call '{tool_call_id}'.", param="tool_call_id"
            )
        approvals = dict(run.metadata.get("approvals") or {})
        approvals[tool_call_id] = {"approve": bool(approve), "reason": str(reason)[:2000]}
        run.metadata = {**run.metadata, "approvals": approvals}
        fields = ["metadata"]
        if all(call_id in approvals for call_id in run.pending_tool_call_ids):
            run.status = Run.Status.QUEUED
            run.heartbeat_at = None
            fields += ["status", "heartbeat_at"]
        run.save(update_fields=fields)
    return run


async def run_approve(
    *, user: AbstractBaseUser, run_id: Any, tool_call_id: Any, approve: bool, reason: str = ""
) -> Run:
    """Approve or deny a waiting tool call; the run resumes from its stored state once all are decided."""
    executor = _executor_taking_runs()
    run = await sync_to_async(run_decide)(
        user=user, run_id=run_id, tool_call_id=tool_call_id, approve=approve, reason=reason
    )
    if run.status == Run.Status.QUEUED:
        await event_send(run.conversation_id, "thread.run.queued", run_object(run))
        executor.submit(run.pk)
    return run


def metadata_validate(value: Any, *, param: str = "metadata") -> dict[str, str]:
    """Check metadata against OpenAI's rules: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ServiceError("invalid_metadata", "Metadata must be an object of string keys and values.", param=param)
    if len(value) > METADATA_MAX_PAIRS:
        raise ServiceError(
            "invalid_metadata", f"Metadata can hold at most {METADATA_MAX_PAIRS} key-value pairs.", param=param
        )
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ServiceError("invalid_metadata", "Metadata keys and values must be strings.", param=param)
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise ServiceError(
                "invalid_metadata", f"Metadata keys can be at most {METADATA_KEY_MAX_CHARS} characters.", param=param
            )
        if len(item) > METADATA_VALUE_MAX_CHARS:
            raise ServiceError(
                "invalid_metadata",
                f"Metadata values can be at most {METADATA_VALUE_MAX_CHARS} characters.",
                param=param,
            )
    return dict(value)


def _usable_assistant(*, user: AbstractBaseUser, assistant_id: Any) -> Assistant:
    if not isinstance(assistant_id, str):
        raise ServiceError("invalid_assistant_id", "assistant_id must be a string.", param="assistant_id")
    try:
        return Assistant.objects.usable_by(user).select_related("provider").get(pk=assistant_id)
    except Assistant.DoesNotExist:
        raise ServiceError(
            "assistant_not_found", f"No assistant found with id '{assistant_id}'.", param="assistant_id"
        ) from None


def _conversation_locked(*, user: AbstractBaseUser, thread_id: str) -> Conversation:
    """The user's conversation, locked for this transaction; another user's is not found."""
    try:
        return Conversation.objects.select_for_update(of=("self",)).get(pk=thread_id, owner=user)
    except Conversation.DoesNotExist:
        raise ServiceError("not_found", f"No thread found with id '{thread_id}'.") from None


def _refuse_if_busy(user: AbstractBaseUser) -> None:
    """One user may only have so many runs going at once, across all their conversations."""
    limit = settings.SWITCHBOARD["RUNS_CONCURRENT_PER_USER"]
    if limit and Run.objects.filter(conversation__owner=user, status__in=Run.ACTIVE).count() >= limit:
        raise ServiceError(
            "too_many_runs", f"You already have {limit} answers in progress. Wait for one to finish, or stop one."
        )


def _count_message(user: AbstractBaseUser) -> None:
    try:
        rate_limit_hit(
            scope="messages",
            user_id=user.pk,
            limit=settings.SWITCHBOARD["RATE_MESSAGES_PER_MINUTE"],
            what="messages",
        )
    except RateLimited as exc:
        raise ServiceError("rate_limited", str(exc), retry_after=exc.retry_after) from None


def _refuse_if_active_or_busy(conversation: Conversation, user: AbstractBaseUser) -> None:
    """No second run in a conversation, and only so many per user at once: one query when neither applies."""
    limit = settings.SWITCHBOARD["RUNS_CONCURRENT_PER_USER"]
    active = list(Run.objects.filter(conversation__owner=user, status__in=Run.ACTIVE).values_list("conversation_id"))
    if (conversation.pk,) in active or (limit and len(active) >= limit):
        _refuse_if_run_active(conversation)  # expires the runs of a process that died before refusing
        _refuse_if_busy(user)


def _refuse_if_run_active(conversation: Conversation) -> None:
    if conversation_active_run(conversation_id=conversation.pk) is not None:
        runs_expire_stale()
        active = conversation_active_run(conversation_id=conversation.pk)
        if active is not None:
            raise ServiceError(
                "run_active", f"Thread {conversation.pk} has an active run {active.pk}; wait for it or cancel it."
            )


def _message_fields(entry: Any, index: int, *, field: str = "messages") -> tuple[str, str, dict[str, str]]:
    """Validate one message given with a new thread or run: (role, content, metadata)."""
    param = f"{field}[{index}]"
    if not isinstance(entry, dict):
        raise ServiceError("invalid_message", "Each message must be an object.", param=param)
    role = entry.get("role")
    if role not in (Message.Role.USER, Message.Role.ASSISTANT):
        raise ServiceError("invalid_role", "A message's role must be 'user' or 'assistant'.", param=f"{param}.role")
    try:
        content = message_validate(entry.get("content"))
    except ServiceError as exc:
        raise ServiceError(exc.code, exc.message, param=f"{param}.content") from None
    metadata = metadata_validate(entry.get("metadata"), param=f"{param}.metadata")
    return role, content, metadata


def thread_create(
    *,
    user: AbstractBaseUser,
    assistant_id: str | None = None,
    metadata: dict | None = None,
    messages: Sequence[dict] = (),
) -> Conversation:
    """Create a thread, optionally for an assistant and with initial messages, in one transaction."""
    metadata = metadata_validate(metadata)
    assistant = _usable_assistant(user=user, assistant_id=assistant_id) if assistant_id is not None else None
    fields = [_message_fields(entry, index) for index, entry in enumerate(messages)]
    first_user = next((content for role, content, _ in fields if role == Message.Role.USER), "")
    with transaction.atomic():
        conversation = Conversation.objects.create(
            owner=user, assistant=assistant, metadata=metadata, title=_title_from(first_user) if first_user else ""
        )
        for role, content, message_metadata in fields:
            Message.objects.create(conversation=conversation, role=role, content=content, metadata=message_metadata)
    return conversation


def thread_update(*, user: AbstractBaseUser, thread_id: str, metadata: dict) -> Conversation:
    """Replace a thread's metadata."""
    metadata = metadata_validate(metadata)
    with transaction.atomic():
        conversation = _conversation_locked(user=user, thread_id=thread_id)
        conversation.metadata = metadata
        conversation.save(update_fields=["metadata", "updated_at"])
    return conversation


def thread_delete(*, user: AbstractBaseUser, thread_id: str) -> None:
    """Delete a thread with its messages, runs and steps; refused while a run is active."""
    with transaction.atomic():
        conversation = _conversation_locked(user=user, thread_id=thread_id)
        # A running task would write rows into a thread that is gone; cancel the run first.
        _refuse_if_run_active(conversation)
        conversation.delete()


def message_add(
    *, user: AbstractBaseUser, thread_id: str, content: str, role: str = "user", metadata: dict | None = None
) -> Message:
    """Add a message to a thread without starting a run; refused while a run is active."""
    if role not in (Message.Role.USER, Message.Role.ASSISTANT):
        raise ServiceError("invalid_role", "A message's role must be 'user' or 'assistant'.", param="role")
    try:
        content = message_validate(content)
    except ServiceError as exc:
        raise ServiceError(exc.code, exc.message, param="content") from None
    metadata = metadata_validate(metadata)
    with transaction.atomic():
        conversation = _conversation_locked(user=user, thread_id=thread_id)
        _refuse_if_run_active(conversation)
        _count_message(user)
        message = Message.objects.create(conversation=conversation, role=role, content=content, metadata=metadata)
        if not conversation.title and role == Message.Role.USER:
            conversation.title = _title_from(content)
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "updated_at"])
    return message


def message_update(*, user: AbstractBaseUser, message_id: str, thread_id: str, metadata: dict) -> Message:
    """Replace a message's metadata."""
    metadata = metadata_validate(metadata)
    try:
        message = Message.objects.get(pk=message_id, conversation_id=thread_id, conversation__owner=user)
    except Message.DoesNotExist:
        raise ServiceError("not_found", f"No message found with id '{message_id}'.") from None
    message.metadata = metadata
    message.save(update_fields=["metadata"])
    return message


def run_store(
    *,
    user: AbstractBaseUser,
    thread_id: str,
    assistant_id: str,
    instructions: str | None = None,
    additional_instructions: str | None = None,
    metadata: dict | None = None,
    model: str | None = None,
    additional_messages: Sequence[dict] = (),
) -> Run:
    """Store a queued run for a thread, after any additional messages, in one transaction; one active run per thread."""
    metadata = metadata_validate(metadata)
    added = [
        _message_fields(entry, index, field="additional_messages") for index, entry in enumerate(additional_messages)
    ]
    for name, value in (("instructions", instructions), ("additional_instructions", additional_instructions)):
        if value is not None and not isinstance(value, str):
            raise ServiceError("invalid_instructions", f"{name} must be a string.", param=name)
    assistant = _usable_assistant(user=user, assistant_id=assistant_id)
    if model is not None and model != assistant.model_name:
        # The executor builds the model from the assistant; a different one here would be silently ignored.
        raise ServiceError(
            "unsupported_model",
            f"A run uses its assistant's model ('{assistant.model_name}'); change the assistant to use another.",
            param="model",
        )
    text = assistant.instructions if instructions is None else instructions
    if additional_instructions:
        text = f"{text}\n\n{additional_instructions}" if text else additional_instructions
    with transaction.atomic():
        conversation = _conversation_locked(user=user, thread_id=thread_id)
        _refuse_if_active_or_busy(conversation, user)
        if conversation.assistant_id is None:
            conversation.assistant = assistant
        for role, content, message_metadata in added:
            Message.objects.create(conversation=conversation, role=role, content=content, metadata=message_metadata)
        run = Run.objects.create(
            conversation=conversation,
            assistant=assistant,
            model=assistant.model_name,
            instructions=text,
            metadata=metadata,
        )
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["assistant", "updated_at"])
    return run


async def run_create(*, user: AbstractBaseUser, thread_id: str, assistant_id: str, **options: Any) -> Run:
    """Store a queued run for a thread, announce it, and start it."""
    executor = _executor_taking_runs()
    run = await sync_to_async(run_store)(user=user, thread_id=thread_id, assistant_id=assistant_id, **options)
    await events_send(thread_id, [("thread.run.created", run_object(run)), ("thread.run.queued", run_object(run))])
    executor.submit(run.pk)
    return run


async def run_wait(*, user: AbstractBaseUser, run_id: str, timeout: float) -> Run:  # noqa: ASYNC109 - a deadline, not a cancel
    """Return the run once it is terminal or requires action, or as it is when `timeout` seconds have passed."""
    try:
        run = await Run.objects.aget(pk=run_id, conversation__owner=user)
    except Run.DoesNotExist:
        raise ServiceError("not_found", f"No run found with id '{run_id}'.") from None
    layer = get_channel_layer()
    if run.status in SETTLED_STATUSES or timeout <= 0:
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
            if run.status in SETTLED_STATUSES or remaining <= 0:
                return run
            # Re-read now and then even without events: another process may expire the run silently.
            await _event_wait(layer, channel, run.pk, min(remaining, RUN_WAIT_RECHECK_SECONDS))
    finally:
        if channel is not None:
            await layer.group_discard(group, channel)


async def _event_wait(layer: Any, channel: str | None, run_id: str, seconds: float) -> None:
    """Wait up to `seconds` for an event saying this run settled."""
    if channel is None:
        await asyncio.sleep(seconds)
        return
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await layer.receive(channel)
                for event, data in events_of(message):
                    if data.get("id") == run_id and event.removeprefix("thread.run.") in SETTLED_STATUSES:
                        return
    except TimeoutError:
        return


def run_update(*, user: AbstractBaseUser, run_id: str, thread_id: str, metadata: dict) -> Run:
    """Replace a run's metadata, keeping the paused tool calls Switchboard stores beside it."""
    metadata = metadata_validate(metadata)
    with transaction.atomic():
        try:
            run = Run.objects.select_for_update(of=("self",)).get(
                pk=run_id, conversation_id=thread_id, conversation__owner=user
            )
        except Run.DoesNotExist:
            raise ServiceError("not_found", f"No run found with id '{run_id}'.") from None
        for key in RESERVED_RUN_METADATA:
            metadata.pop(key, None)
            if key in (run.metadata or {}):
                metadata[key] = run.metadata[key]
        run.metadata = metadata
        run.save(update_fields=["metadata"])
    return run


# --- The chat page: rename, archive, regenerate ------------------------------------------------------------------

TITLE_MAX_CHARS = 200


def conversation_rename(*, user: AbstractBaseUser, thread_id: str, title: Any) -> Conversation:
    if not isinstance(title, str) or not title.strip():
        raise ServiceError("invalid_title", "A title must not be empty.", param="title")
    title = " ".join(title.split())
    if len(title) > TITLE_MAX_CHARS:
        raise ServiceError("title_too_long", f"A title can be at most {TITLE_MAX_CHARS} characters.", param="title")
    # update(), not save(): renaming is not activity and must not move the conversation up the list.
    if not Conversation.objects.filter(pk=thread_id, owner=user).update(title=title):
        raise ServiceError("not_found", f"No thread found with id '{thread_id}'.")
    return Conversation.objects.get(pk=thread_id)


def conversation_archive(*, user: AbstractBaseUser, thread_id: str, archived: bool = True) -> Conversation:
    """Archive (hide from the default list) or unarchive a conversation."""
    archived_at = timezone.now() if archived else None
    if not Conversation.objects.filter(pk=thread_id, owner=user).update(archived_at=archived_at):
        raise ServiceError("not_found", f"No thread found with id '{thread_id}'.")
    return Conversation.objects.get(pk=thread_id)


def run_regenerate_store(*, user: AbstractBaseUser, thread_id: str) -> Run:
    """Replace the answer to the last user message with a new queued run, in one transaction.

    The old answer's messages and steps are deleted rather than kept beside the new one: history is
    the model's input, and two answers to one question would feed it both. The old run row stays,
    so its token usage still counts.
    """
    with transaction.atomic():
        conversation = _conversation_locked(user=user, thread_id=thread_id)
        _refuse_if_active_or_busy(conversation, user)
        _count_message(user)  # a new answer costs what a new message does
        assistant = Assistant.objects.filter(pk=conversation.assistant_id).select_related("provider").first()
        if assistant is None:
            raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
        question = Message.objects.filter(conversation=conversation, role=Message.Role.USER).order_by("-id").first()
        if question is None:
            raise ServiceError("nothing_to_regenerate", "There is no message to answer yet.")
        Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT, pk__gt=question.pk).delete()
        RunStep.objects.filter(run__conversation=conversation, run__created_at__gte=question.created_at).delete()
        if question.run_id:
            RunStep.objects.filter(run_id=question.run_id).delete()
        run = Run.objects.create(
            conversation=conversation,
            assistant=assistant,
            model=assistant.model_name,
            instructions=assistant.instructions,
        )
        question.run = run
        question.save(update_fields=["run"])
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["updated_at"])
    return run


async def run_regenerate(*, user: AbstractBaseUser, thread_id: str) -> Run:
    """Answer the last user message again with a new run; every open page redraws without the old answer."""
    executor = _executor_taking_runs()
    run = await sync_to_async(run_regenerate_store)(user=user, thread_id=thread_id)
    snapshot = await sync_to_async(conversation_snapshot)(conversation_id=thread_id)
    await event_send(thread_id, "thread.snapshot", snapshot)
    await events_send(thread_id, [("thread.run.created", run_object(run)), ("thread.run.queued", run_object(run))])
    executor.submit(run.pk)
    return run
