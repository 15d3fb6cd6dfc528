"""Reads for conversations: access-scoped lookups and the model's input."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from chat.attachments import message_model_input
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
    return sort_key_of(obj.pk)


def sort_key_of(pk: str) -> str:
    # Public ids share one generator whose suffix sorts in creation order.
    return pk.split("_", 1)[1]


@dataclass(frozen=True)
class Branch:
    """The branch of a conversation's message tree that is shown, and that the model reads."""

    messages: list[str]  # its messages' ids, first to last
    runs: frozenset[str]  # the runs whose tool steps and notes it shows
    versions: dict[str, list[str]]  # a message with alternatives: all of them (itself among them), oldest first
    last_question: str | None = None  # its last user message
    # Read with `inputs`: what the model reads of the conversation's messages, by id (`MODEL_INPUT_FIELDS`).
    inputs: dict[str, tuple[Any, ...]] | None = None

    @property
    def tip(self) -> str | None:
        """The message a new one follows."""
        return self.messages[-1] if self.messages else None

    def asked(self, *messages: Message) -> Branch:
        """This branch once these messages are added at its tip, the last a question a run has yet to answer."""
        inputs = self.inputs
        if inputs is not None:
            inputs = inputs | {m.pk: tuple(getattr(m, name) for name in MODEL_INPUT_FIELDS) for m in messages}
        return Branch(
            messages=[*self.messages, *(message.pk for message in messages)],
            runs=self.runs,
            versions=self.versions,
            last_question=messages[-1].pk if messages else self.last_question,
            inputs=inputs,
        )


# What the model's input takes from each message.
MODEL_INPUT_FIELDS = ("role", "content", "image_file_ids", "metadata")


def conversation_branch(*, conversation_id: str, current_id: Any = ..., inputs: bool = False) -> Branch:
    """The visible branch: from the first message down to the conversation's `current` message, and on from it
    through the newest reply each time; it stops at a run that has written nothing yet (its answer is coming).

    A message without a parent follows the message before it (those stored before branches); one that edits
    the first message is a first message too. A run answers its `reply_to`. With `inputs`, the same read also
    takes what the model's input needs of each message (`Branch.inputs`), so a run starting from this branch
    does not read the messages again.
    """
    if current_id is ...:
        current_id = Conversation.objects.filter(pk=conversation_id).values_list("current_id", flat=True).first()
    fields = ("pk", "parent_id", "edited_from_id", "role", "run_id")
    rows = sorted(
        Message.objects.filter(conversation_id=conversation_id).values_list(
            *fields, *(MODEL_INPUT_FIELDS[1:] if inputs else ())
        ),
        key=lambda row: sort_key_of(row[0]),
    )
    read = {row[0]: (row[3], *row[5:]) for row in rows} if inputs else None
    rows = [row[:5] for row in rows] if inputs else rows
    parent_of: dict[str, str | None] = {}
    questions: set[str] = set()
    answer_run: dict[str, str] = {}  # an assistant message: the run that wrote it
    children: dict[str | None, list[str]] = defaultdict(list)
    asked: dict[str, str] = {}  # a run: the user message that started it
    previous = None
    for pk, parent, edited_from, role, run_id in rows:
        if parent is None or parent not in parent_of:
            parent = None if edited_from is not None else previous
        parent_of[pk] = parent
        children[parent].append(pk)
        if run_id and role == Message.Role.ASSISTANT:
            answer_run[pk] = run_id
        elif run_id:
            asked.setdefault(run_id, pk)
        if role == Message.Role.USER:
            questions.add(pk)
        previous = pk
    # Runs that wrote no message yet, by the message they answer.
    order = [pk for pk, *_ in rows]
    keys = [sort_key_of(pk) for pk in order]
    writers = set(answer_run.values())
    silent: dict[str | None, list[str]] = defaultdict(list)
    for pk, reply_to in Run.objects.filter(conversation_id=conversation_id).values_list("pk", "reply_to_id"):
        if pk in writers:
            continue
        if reply_to not in parent_of:
            before = bisect_left(keys, sort_key_of(pk))
            reply_to = asked.get(pk) or (order[before - 1] if before else None)
        silent[reply_to].append(pk)
    path: list[str] = []
    node = current_id if current_id in parent_of else None
    while node is not None:  # a parent always comes before its children (above), so this ends
        path.append(node)
        node = parent_of[node]
    path.reverse()
    tip = path[-1] if path else None
    while True:
        options = children.get(tip, []) + silent.get(tip, [])
        newest = max(options, key=sort_key_of, default=None)
        if newest is None or newest not in parent_of:
            break  # the end, or a run whose answer is still to come
        path.append(newest)
        tip = newest
    runs = {answer_run[pk] for pk in path if pk in answer_run}
    for index, pk in enumerate([None, *path]):
        following = path[index] if index < len(path) else None
        if following not in answer_run and silent.get(pk):
            # No answer follows this message on the branch: the latest run that answered it without a word
            # (failed, stopped, or still thinking) is shown with it.
            runs.add(max(silent[pk], key=sort_key_of))
    versions = {pk: children[parent_of[pk]] for pk in path if len(children[parent_of[pk]]) > 1}
    last_question = next((pk for pk in reversed(path) if pk in questions), None)
    return Branch(messages=path, runs=frozenset(runs), versions=versions, last_question=last_question, inputs=read)


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    """The messages of the conversation's visible branch: what the API and MCP list as the thread's messages."""
    branch = conversation_branch(conversation_id=conversation.pk, current_id=conversation.current_id)
    return Message.objects.filter(conversation=conversation, pk__in=branch.messages)


def conversation_history(
    *, conversation_id: str, since: Any = None, branch: Branch | None = None
) -> list[Message | RunStep]:
    """Messages and tool steps of the conversation's visible branch, in the order they happened (from `since`
    on, if given)."""
    branch = branch or conversation_branch(conversation_id=conversation_id)
    shown = set(branch.messages)
    messages = Message.objects.filter(conversation_id=conversation_id)
    steps = RunStep.objects.filter(run__conversation_id=conversation_id, type=RunStep.Type.TOOL_CALLS)
    if since is not None:
        messages, steps = messages.filter(created_at__gte=since), steps.filter(created_at__gte=since)
    messages = [message for message in messages if message.pk in shown]
    steps = [step for step in steps if step.run_id in branch.runs]
    return sorted([*messages, *steps], key=sort_key)


def conversation_model_input(
    *,
    conversation_id: str,
    last_messages: int | None = None,
    attached: list[Attached] | None = None,
    branch: Branch | None = None,
) -> list[dict[str, Any]]:
    """Build the model's input from stored messages and tool steps, so nothing is stored twice; with
    `last_messages`, from the conversation's last that many messages only (a run's truncation_strategy).
    `attached` receives each input message that has MCP resources attached, with them (the run reads those).

    Read as plain values, not model instances: it runs before every model call, and a long conversation's
    messages as objects (four JSON fields each) cost more than everything else the run reads to start.
    `branch` is the conversation's visible branch where the caller knows it."""
    branch = branch or conversation_branch(conversation_id=conversation_id)
    # The whole conversation, kept to the branch here: a long branch as an `IN (…)` list costs more to send and
    # plan than the few rows of other branches cost to skip.
    shown, runs = set(branch.messages), branch.runs
    if branch.inputs is not None:
        messages = [(pk, *fields) for pk, fields in branch.inputs.items()]
    else:
        messages = Message.objects.filter(conversation_id=conversation_id).values_list("pk", *MODEL_INPUT_FIELDS)
    # A call without an answer would be rejected by every provider: only finished calls are read back.
    steps = RunStep.objects.filter(
        run__conversation_id=conversation_id,
        type=RunStep.Type.TOOL_CALLS,
        status__in=(RunStep.Status.COMPLETED, RunStep.Status.FAILED),
    ).exclude(tool_call_id="")
    entries: list[tuple[str, dict[str, Any] | None, tuple[Any, ...]]] = [
        (sort_key_of(pk), None, (role, content, images, metadata))
        for pk, role, content, images, metadata in messages
        if pk in shown and (content or images)
    ]
    entries += [
        (sort_key_of(pk), {"call_id": call_id, "name": name, "arguments": arguments or "{}"}, (output or error,))
        for pk, run_id, call_id, name, arguments, output, error in steps.values_list(
            "pk", "run_id", "tool_call_id", "tool_name", "arguments", "output", "error"
        )
        if run_id in runs
    ]
    items: list[dict[str, Any]] = []
    for _, call, fields in sorted(entries, key=lambda entry: entry[0]):
        if call is None:
            role, content, images, metadata = fields
            items.append(message_model_input(role=role, content=content, image_file_ids=images or []))
            if attached is not None and (resources := message_resources(metadata)):
                attached.append(Attached(item=items[-1], resources=resources))
            continue
        items.append({"type": "function_call", **call})
        items.append({"type": "function_call_output", "call_id": call["call_id"], "output": fields[0]})
    items = model_input_last_messages(items, last_messages)
    if attached:
        kept = {id(item) for item in items}
        attached[:] = [entry for entry in attached if id(entry.item) in kept]
    return items


# A message's attached MCP resources, kept in its metadata under this key (its files are in `attachments`).
RESOURCES_KEY = "mcp_resources"


def message_resources(metadata: Any) -> list[dict[str, str]]:
    """The MCP resources attached to a message, from its metadata: [{"server", "uri", "title"}, …]."""
    resources = metadata.get(RESOURCES_KEY) if isinstance(metadata, dict) else None
    return resources if isinstance(resources, list) else []


@dataclass
class Attached:
    """A message of the model's input with the MCP resources attached to it: the run reads their contents."""

    item: dict[str, Any]
    resources: list[dict[str, str]]


def model_input_last_messages(items: list[Any], count: int | None) -> list[Any]:
    """The model's input from its `count`th last message on, with the tool calls that follow each message kept
    beside it (a call is never parted from its output). None keeps it all."""
    if count is None:
        return items
    starts = [index for index, item in enumerate(items) if isinstance(item, dict) and "role" in item]
    if len(starts) <= count:
        return items
    return items[starts[-count] :] if count > 0 else []


# --- The chat pages: lists, search, the timeline and its snapshot ------------------------------------------------


def conversation_filter(*, user: AbstractBaseUser, query: str = "", archived: bool = False) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first; `query` matches titles and message text."""
    conversations = Conversation.objects.filter(owner=user, archived_at__isnull=not archived)
    query = query.strip()
    if query:
        matching = Message.objects.filter(conversation__owner=user, content__icontains=query).values("conversation_id")
        conversations = conversations.filter(Q(title__icontains=query) | Q(pk__in=matching))
    return conversations.select_related("assistant").order_by("-updated_at", "-pk")
