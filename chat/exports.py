"""A conversation as a file: Markdown to read, JSON to keep (messages, tool calls and runs)."""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils import timezone
from django.utils.http import content_disposition_header

from chat.models import Conversation, Message, Run, RunStep
from chat.selectors import conversation_history
from chat.serializers import message_object, run_object, run_step_object, thread_object

# Characters some file system, shell or browser refuses or misreads in a file name.
_UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
FILENAME_MAX = 80


def conversation_export_filename(*, conversation: Conversation, extension: str) -> str:
    """A download's file name from the conversation's title, safe on every system; the thread id if untitled."""
    name = _UNSAFE_IN_FILENAME.sub(" ", conversation.title or "")
    name = " ".join(name.split())[:FILENAME_MAX].strip(" .-")
    return f"{name or conversation.pk}.{extension}"


def conversation_export_disposition(*, conversation: Conversation, extension: str) -> str:
    """The Content-Disposition of a download (an RFC 6266 `filename*` for names beyond ASCII)."""
    filename = conversation_export_filename(conversation=conversation, extension=extension)
    return content_disposition_header(as_attachment=True, filename=filename)


def conversation_export_data(*, conversation: Conversation) -> dict[str, Any]:
    thread_id = conversation.pk
    history = conversation_history(conversation_id=thread_id)
    steps = RunStep.objects.filter(run__conversation_id=thread_id)
    return {
        "thread": {**thread_object(conversation), "title": conversation.title},
        "assistant": {"id": conversation.assistant_id, "name": getattr(conversation.assistant, "name", None)},
        "exported_at": int(timezone.now().timestamp()),
        "messages": [message_object(item) for item in history if isinstance(item, Message)],
        "runs": [run_object(run) for run in Run.objects.filter(conversation_id=thread_id)],
        "run_steps": [
            run_step_object(step, thread_id=thread_id, assistant_id=conversation.assistant_id) for step in steps
        ],
    }


def conversation_export_json(*, conversation: Conversation) -> str:
    return json.dumps(conversation_export_data(conversation=conversation), indent=2, ensure_ascii=False)


def _fence(text: str, language: str = "") -> str:
    # A fence longer than any backtick run inside, so no content can close it early.
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text}\n{ticks}"


def _pretty(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return arguments


def conversation_export_markdown(*, conversation: Conversation) -> str:
    assistant = getattr(conversation.assistant, "name", None) or "a deleted assistant"
    parts = [
        f"# {conversation.title or 'Untitled conversation'}",
        f"Conversation `{conversation.pk}` with {assistant}, exported {timezone.now():%Y-%m-%d %H:%M} UTC.",
    ]
    for item in conversation_history(conversation_id=conversation.pk):
        if isinstance(item, Message):
            parts.append(f"## {'You' if item.role == Message.Role.USER else assistant}")
            parts.append(item.content)
            continue
        where = f" on `{item.server_name}`" if item.server_name else ""
        took = f", {item.duration_ms} ms" if item.duration_ms is not None else ""
        parts.append(f"### Tool call `{item.tool_name}`{where} ({item.status}{took})")
        parts.append(_fence(_pretty(item.arguments or "{}"), "json"))
        if item.error:
            parts.append("Error:\n\n" + _fence(item.error, "text"))
        elif item.output:
            parts.append("Result:\n\n" + _fence(item.output, "text"))
    return "\n\n".join(parts) + "\n"
