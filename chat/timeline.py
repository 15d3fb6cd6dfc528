"""What the chat page shows, and the one source of its markup.

The page renders each entry (a message, a tool call, a note for a run that ended badly) with the same
template fragment (`templates/chat/_entry.html`), from the same Assistants v2 objects the stream carries:
on load, in the answer to a resync, and on every live event that adds or replaces an entry. The script only
inserts those fragments and appends streamed text.

A resync is by cursor: the page sends the key of the last entry it knows to be final, and gets the entries
after it (the whole timeline only when it is too far behind, or the cursor is gone).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.template import Context, Template
from django.template.loader import get_template

from assistants.models import Assistant
from chat.markdown import message_html_add
from chat.models import Conversation, Message, Run, RunStep
from chat.selectors import Branch, conversation_branch, conversation_history, sort_key
from chat.serializers import (
    elicitation_mark,
    function_call_mark,
    message_object,
    run_object,
    run_step_bounded,
    run_step_object,
)

# Past this many entries after its cursor, a page gets the whole timeline instead.
RESYNC_TAIL_MAX = 100
# A page shows this many entries at first, and loads as many older ones at a time.
TIMELINE_PAGE = 100
ENTRY_TEMPLATE = "chat/_entry.html"
KIND_PREFIX = {"message": "m", "step": "s", "run": "r"}
# Events that add or replace an entry; the socket sends each with its fragment.
ENTRY_EVENTS = {
    "thread.message.created": "message",
    "thread.message.in_progress": "message",
    "thread.message.completed": "message",
    "thread.message.incomplete": "message",
    "thread.run.step.created": "step",
    "thread.run.step.in_progress": "step",
    "thread.run.step.delta": "step",
    "thread.run.step.completed": "step",
    "thread.run.step.failed": "step",
    "thread.run.step.cancelled": "step",
    "thread.run.step.expired": "step",
    "thread.run.failed": "run",
    "thread.run.cancelled": "run",
    "thread.run.expired": "run",
    "thread.run.incomplete": "run",
}


def entry_key(kind: str, data: dict[str, Any]) -> str:
    return f"{KIND_PREFIX[kind]}:{data['id']}"


@functools.cache
def _entry_template() -> Template:
    return get_template(ENTRY_TEMPLATE).template


def entry_render(context: dict[str, Any]) -> str:
    """An entry's fragment from its template's context. Every live event draws one: the compiled template is
    kept, but under DEBUG, which reloads it when it is edited."""
    template = get_template(ENTRY_TEMPLATE).template if settings.DEBUG else _entry_template()
    return template.render(Context(context))


def entry_html(kind: str, data: dict[str, Any], author: str = "") -> str:
    """The fragment of one entry, from its Assistants v2 object (and the name of the assistant who wrote it)."""
    if kind == "message" and "content_html" not in data:
        data = message_html_add(data)
    return entry_render({"kind": kind, "item": data, "author": author})


def authors(assistant_ids: set[str]) -> dict[str, str]:
    """The names of the assistants who wrote these entries, by id."""
    return dict(Assistant.objects.filter(pk__in=assistant_ids - {None, ""}).values_list("pk", "name"))


# The names this process's runs answer under, as each run last read them: a socket draws a live entry without a
# trip to the database (which may be busy with the very run it draws).
_names_seen: dict[str, str] = {}
NAMES_SEEN_MAX = 10_000


def authors_seen(names: dict[str, str]) -> None:
    """Remember the names of the assistants a run of this process answers as (by id)."""
    if len(_names_seen) > NAMES_SEEN_MAX:
        _names_seen.clear()
    _names_seen.update(names)


def author_seen(assistant_id: str) -> str | None:
    """The name a run of this process answered as under this id (None if none has)."""
    return _names_seen.get(assistant_id)


def event_entry(event: str, data: dict[str, Any], *, author: str = "") -> dict[str, Any] | None:
    """The entry an event adds or replaces, with its fragment; None for other events."""
    kind = ENTRY_EVENTS.get(event)
    if kind is None or (kind == "step" and data.get("type") != RunStep.Type.TOOL_CALLS):
        return None
    if data.get("object", "").endswith(".delta"):
        return None  # a delta names only what changed: the entry is drawn from whole objects
    if event == "thread.message.created" and data.get("status") == "in_progress":
        return None  # an answer starting: its `thread.message.in_progress` follows at once and draws it

    return {"key": entry_key(kind, data), "html": entry_html(kind, data, author)}


def _entries(
    conversation: Conversation, runs: dict[str, Run], branch: Branch, *, since: Any = None
) -> list[tuple[str, Any, bool]]:
    """(kind, object, final) in page order: the visible branch's messages, tool steps, and a note for each of
    its runs that ended badly.

    A run's note sits after the run's last message or step, where its answer would be. A run that left
    nothing behind gets no note unless it is the latest run. An entry is final when neither it nor its run
    can change any more.
    """
    runs = {pk: run for pk, run in runs.items() if pk in branch.runs}
    latest = _latest(runs)
    latest = latest.pk if latest is not None else None
    entries: list[tuple[str, Any, bool]] = []
    last_of_run: dict[str, int] = {}
    for item in conversation_history(conversation_id=conversation.pk, since=since, branch=branch):
        run = runs.get(item.run_id) if item.run_id else None
        final = item.status != "in_progress" and (run is None or not run.is_active)
        last_of_run[item.run_id] = len(entries)
        entries.append(("message" if isinstance(item, Message) else "step", item, final))
    ended = [run for run in runs.values() if run.status != Run.Status.COMPLETED and not run.is_active]
    # Inserted from the back, so earlier positions stay valid.
    placed = sorted(
        ((last_of_run[run.pk] + 1 if run.pk in last_of_run else None, run) for run in ended),
        key=lambda pair: (pair[0] is None, pair[0] or 0),
        reverse=True,
    )
    for position, run in placed:
        if position is not None:
            entries.insert(position, ("run", run, True))
        elif run.pk == latest and since is None:
            entries.append(("run", run, True))
    return entries


def _data(kind: str, item: Any, conversation: Conversation) -> dict[str, Any]:
    if kind == "message":
        return message_object(item)
    if kind == "step":
        run = item.run if RunStep.run.field.is_cached(item) else None
        approval = run.approval_of(item.tool_call_id) if run is not None else None
        data = run_step_object(
            item, thread_id=conversation.pk, assistant_id=conversation.assistant_id, approval=approval
        )
        if run is not None:
            data = elicitation_mark(function_call_mark(data, run), run)
        return run_step_bounded(data, settings.SWITCHBOARD["TOOL_OUTPUT_SHOWN_CHARS"])
    return run_object(item)


def conversation_state(*, conversation: Conversation, after: str | None = None) -> dict[str, Any]:
    """The page's state: the entries after the cursor `after` (all of them without one, or when the page is
    too far behind), the cursor to ask from next time, and the run state the controls follow."""
    since = _cursor_time(conversation, after) if after else None
    runs = {run.pk: run for run in Run.objects.filter(conversation=conversation).select_related("assistant")}
    branch = conversation_branch(conversation_id=conversation.pk, current_id=conversation.current_id)
    entries = _entries(conversation, runs, branch, since=since)
    start = 0
    if since is not None:
        keys = [f"{KIND_PREFIX[kind]}:{item.pk}" for kind, item, _ in entries]
        start = keys.index(after) + 1 if after in keys else -1
        if start < 0 or len(entries) - start > RESYNC_TAIL_MAX:
            return conversation_state(conversation=conversation)
    active = _latest({pk: run for pk, run in runs.items() if run.is_active})
    _steps_with_run(entries, runs)
    cursor = after if since is not None else None
    for kind, item, final in entries:
        if not final:
            break
        cursor = f"{KIND_PREFIX[kind]}:{item.pk}"
    latest = _latest({pk: run for pk, run in runs.items() if pk in branch.runs})
    if since is None:
        # A whole timeline is its latest page; the page asks for older ones as its reader scrolls back.
        start = max(0, len(entries) - TIMELINE_PAGE)
    older = _key(entries[start]) if since is None and start > 0 else None
    return {
        "thread_id": conversation.pk,
        "title": conversation.title,
        "after": after if since is not None else None,
        "cursor": cursor,
        "older": older,
        "entries": _shown(entries[start:], entries, runs, conversation, branch),
        "active_run": run_object(active) if active else None,
        "latest_run": run_object(latest) if latest else None,
        "has_user_message": Message.objects.filter(conversation=conversation, role=Message.Role.USER).exists(),
    }


def _key(entry: tuple[str, Any, bool]) -> str:
    return f"{KIND_PREFIX[entry[0]]}:{entry[1].pk}"


def _shown(
    page: list[tuple[str, Any, bool]],
    entries: list[tuple[str, Any, bool]],
    runs: dict[str, Run],
    conversation: Any,
    branch: Branch,
) -> list[dict[str, Any]]:
    """The entries of `page` as the page draws them (a message with its answer's details, and its place among
    its alternatives)."""
    answers = _answers(entries, runs)
    names = authors({getattr(item, "assistant_id", None) for kind, item, _ in page if kind != "run"})
    shown = []
    for kind, item, _ in page:
        data = _data(kind, item, conversation)
        entry = {
            "key": entry_key(kind, data),
            "kind": kind,
            "item": data,
            "author": names.get(data["assistant_id"], ""),
        }
        if kind == "message":
            entry["item"] = message_html_add(data)
            entry["details"] = answers.get(item.pk)
            if entry["details"] and entry["author"]:
                # Written by the team member the run handed off to, not the run's own assistant.
                entry["details"] = {**entry["details"], "assistant": entry["author"]}
            entry["versions"] = _versions(branch, item.pk)
        shown.append(entry)
    return shown


def older_answer(*, conversation_id: str, before: str) -> dict[str, Any]:
    """The page of entries just before the entry `before` (as fragments), and the key to ask from next."""
    conversation = Conversation.objects.select_related("assistant").get(pk=conversation_id)
    runs, branch, entries = _timeline(conversation)
    keys = [_key(entry) for entry in entries]
    end = keys.index(before) if before in keys else 0
    start = max(0, end - TIMELINE_PAGE)
    shown = _shown(entries[start:end], entries, runs, conversation, branch)
    return {
        "before": before,
        "older": keys[start] if start > 0 else None,
        "entries": [{"key": entry["key"], "html": entry_render(entry)} for entry in shown],
    }


def _timeline(conversation: Conversation) -> tuple[dict[str, Run], Branch, list[tuple[str, Any, bool]]]:
    """The conversation's runs, the branch it shows, and that branch's entries, all of them."""
    runs = {run.pk: run for run in Run.objects.filter(conversation=conversation).select_related("assistant")}
    branch = conversation_branch(conversation_id=conversation.pk, current_id=conversation.current_id)
    entries = _entries(conversation, runs, branch)
    _steps_with_run(entries, runs)
    return runs, branch, entries


def shared_entries(*, conversation: Conversation) -> list[dict[str, Any]]:
    """Every entry of the branch shown, as a shared page draws them: with no other versions to go to."""
    runs, branch, entries = _timeline(conversation)
    shown = _shown(entries, entries, runs, conversation, branch)
    for entry in shown:
        entry.pop("versions", None)
    return shown


def resync_answer(*, conversation_id: str, after: str | None, objects: bool = False) -> dict[str, Any]:
    """The state a (re)connected page asks for, each entry as its fragment; with `objects`, also each entry's
    Assistants v2 object (`timeline`: the whole-state snapshot programs read)."""
    conversation = Conversation.objects.select_related("assistant").get(pk=conversation_id)
    state = conversation_state(conversation=conversation, after=after)
    if objects:
        state["timeline"] = [{"kind": entry["kind"], "data": entry["item"]} for entry in state["entries"]]
    state["entries"] = [{"key": entry["key"], "html": entry_render(entry)} for entry in state["entries"]]
    return state


def _answers(entries: list[tuple[str, Any, bool]], runs: dict[str, Run]) -> dict[str, dict[str, Any]]:
    """The details shown under each finished run's last answer, by message id: who wrote it, with which model,
    the tokens, the time and the cost it took. Page-only: the Assistants v2 objects stay as they are."""
    last: dict[str, str] = {}
    for kind, item, _ in entries:
        if kind == "message" and item.role == Message.Role.ASSISTANT and item.run_id in runs:
            last[item.run_id] = item.pk
    return {message: answer_details(runs[run]) for run, message in last.items() if not runs[run].is_active}


def _versions(branch: Branch, message_id: str) -> dict[str, Any] | None:
    """Which of its alternatives a message is ("2 / 3"), and the ones before and after it."""
    versions = branch.versions.get(message_id)
    if not versions:
        return None
    index = versions.index(message_id)
    return {
        "index": index + 1,
        "count": len(versions),
        "previous": versions[index - 1] if index > 0 else None,
        "next": versions[index + 1] if index + 1 < len(versions) else None,
    }


def answer_details(run: Run) -> dict[str, Any]:
    ended = run.completed_at or run.failed_at or run.cancelled_at
    duration_ms = int((ended - run.started_at).total_seconds() * 1000) if ended and run.started_at else None
    cost = run.cost or Decimal(0)
    return {
        "run_id": run.pk,
        "thread_id": run.conversation_id,
        "assistant": run.assistant.name if run.assistant else "",
        "model": run.model,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "total_tokens": run.total_tokens,
        "duration_ms": duration_ms,
        "cost": cost if cost > 0 else None,
    }


def _steps_with_run(entries: list[tuple[str, Any, bool]], runs: dict[str, Run]) -> None:
    """Let each step say whether its call waits for the user's approval, or was refused."""
    for kind, item, _ in entries:
        if kind == "step" and item.run_id in runs:
            item.run = runs[item.run_id]


def _cursor_time(conversation: Conversation, key: str) -> Any:
    """When the cursor's entry was created; None if it is gone (the page then gets everything)."""
    prefix, _, pk = key.partition(":")
    model = {"m": Message, "s": RunStep}.get(prefix)
    if model is None:
        run = Run.objects.filter(pk=pk, conversation=conversation).first()
        # A run's note follows the run's last entry: read from the run's start.
        return run.created_at if run is not None else None
    scope = {"conversation": conversation} if model is Message else {"run__conversation": conversation}
    found = model.objects.filter(pk=pk, **scope).values_list("created_at", flat=True).first()
    return found


def _latest(runs: dict[str, Run]) -> Run | None:
    return max(runs.values(), default=None, key=sort_key)
