"""Assistants v2 wire objects for messages, runs and run steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from assistants.serializers import file_search_objects
from chat.citations import file_search_call, file_search_query, is_file_search
from chat.models import Conversation, Message, Run, RunStep
from chat.selectors import RESOURCES_KEY, message_resources
from chat.tool_results import content_metadata

# Kept in a run's metadata by Switchboard itself (the paused calls, the decisions on them, when it paused, and the
# question an MCP server is asking the user).
RESERVED_METADATA = ("required_action", "approvals", "paused_at", "function_calls", "elicitation")


def ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def thread_object(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "object": "thread",
        "created_at": ts(conversation.created_at),
        "metadata": conversation.metadata or {},
        "tool_resources": conversation.tool_resources or {},
    }


def text_content(value: str, annotations: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": annotations or []}}]


def image_parts(file_ids: list[str]) -> list[dict[str, Any]]:
    return [{"type": "image_file", "image_file": {"file_id": file_id, "detail": "auto"}} for file_id in file_ids]


def message_object(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "object": "thread.message",
        "created_at": ts(message.created_at),
        "thread_id": message.conversation_id,
        "status": message.status,
        "incomplete_details": None,
        "completed_at": ts(message.completed_at),
        "incomplete_at": None,
        "role": message.role,
        # An answer just begun has no text part yet, as OpenAI's (clients start their text at the first delta).
        "content": []
        if not message.content and message.status == Message.Status.IN_PROGRESS
        else text_content(message.content, message.annotations) + image_parts(message.image_file_ids),
        "assistant_id": message.assistant_id,
        "run_id": message.run_id,
        "attachments": message.attachments or [],
        "metadata": message.metadata or {},
    } | _resources_field(message.metadata)


def _resources_field(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The MCP resources attached to a message, as a field of their own: metadata values stay strings."""
    if not metadata or RESOURCES_KEY not in metadata:
        return {}
    return {
        "metadata": {key: value for key, value in metadata.items() if key != RESOURCES_KEY},
        "mcp_resources": message_resources(metadata),
    }


def message_delta_object(message_id: str, value: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "object": "thread.message.delta",
        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": value, "annotations": []}}]},
    }


def usage_object(obj: Run | RunStep) -> dict[str, int] | None:
    if not obj.total_tokens:
        return None
    return {
        "prompt_tokens": obj.prompt_tokens,
        "completion_tokens": obj.completion_tokens,
        "total_tokens": obj.total_tokens,
    }


def run_functions(run: Run) -> list[dict[str, Any]]:
    """The function tools this run offers: its own, else its assistant's (when loaded: no query here)."""
    if run.functions is not None:
        return run.functions
    if run.assistant_id and Run.assistant.field.is_cached(run) and run.assistant is not None:
        return run.assistant.functions
    return []


def run_file_search(run: Run) -> dict[str, Any] | None:
    """The file_search settings a run runs with: its own, else its assistant's (when loaded: no query here)."""
    if (run.overrides or {}).get("file_search") is not None:
        return run.overrides["file_search"]
    if run.assistant_id and Run.assistant.field.is_cached(run) and run.assistant is not None:
        return run.assistant.file_search
    return None


def run_object(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "object": "thread.run",
        "created_at": ts(run.created_at),
        "thread_id": run.conversation_id,
        "assistant_id": run.assistant_id,
        "status": run.status,
        "required_action": run.metadata.get("required_action") if run.status == Run.Status.REQUIRES_ACTION else None,
        "last_error": {"code": run.last_error_code, "message": run.last_error} if run.last_error else None,
        "expires_at": run_expires_at(run),
        "started_at": ts(run.started_at),
        "cancelled_at": ts(run.cancelled_at),
        "failed_at": ts(run.failed_at),
        "completed_at": ts(run.completed_at),
        "incomplete_details": {"reason": run.incomplete_reason} if run.incomplete_reason else None,
        "model": run.model,
        "instructions": run.instructions,
        "tools": [{"type": "function", "function": function} for function in run_functions(run)]
        + file_search_objects(run_file_search(run)),
        "metadata": {k: v for k, v in (run.metadata or {}).items() if k not in RESERVED_METADATA},
        "usage": usage_object(run),
        **run_settings(run),
    }


def run_expires_at(run: Run) -> int | None:
    """When a run waiting for tool outputs expires unanswered: RUN_REQUIRES_ACTION_SECONDS after it paused (its
    heartbeat is when it paused). A run under way does not expire while its process lives."""
    if run.status != Run.Status.REQUIRES_ACTION or run.heartbeat_at is None:
        return None
    if run.pending_elicitation is not None:
        # Not the run: its question, which is cancelled then (the run goes on).
        return run.pending_elicitation["expires_at"]
    return ts(run.heartbeat_at) + int(settings.SWITCHBOARD["RUN_REQUIRES_ACTION_SECONDS"])


def run_settings(run: Run) -> dict[str, Any]:
    """The settings a run runs with: its own overrides, else its assistant's (when loaded: no query here)."""
    assistant = run.assistant if run.assistant_id and Run.assistant.field.is_cached(run) else None
    own = run.overrides or {}

    def setting(name: str, default: Any) -> Any:
        if own.get(name) is not None:
            return own[name]
        return getattr(assistant, name, default) if assistant is not None else default

    choice = setting("tool_choice", "") or "auto"
    return {
        "temperature": setting("temperature", None),
        "top_p": setting("top_p", None),
        "max_completion_tokens": own.get("max_completion_tokens"),
        "max_prompt_tokens": own.get("max_prompt_tokens"),
        "truncation_strategy": own.get("truncation_strategy") or {"type": "auto", "last_messages": None},
        "response_format": setting("response_format", "auto"),
        "tool_choice": choice
        if choice in ("auto", "none", "required")
        else {"type": "function", "function": {"name": choice}},
        "parallel_tool_calls": setting("parallel_tool_calls", True),
    }


def tool_call_delta(step: RunStep) -> dict[str, Any]:
    """The `thread.run.step.delta` that announces a tool-call step's call, as OpenAI streams one (clients fire
    their "tool call created" from it). The step's snapshot already holds the name and arguments, and clients
    add a delta's text to it, so the delta repeats neither."""
    return {
        "id": step.id,
        "object": "thread.run.step.delta",
        "delta": {
            "step_details": {
                "type": "tool_calls",
                "tool_calls": [
                    {"index": 0, "id": step.tool_call_id, "type": "file_search" if is_file_search(step) else "function"}
                ],
            }
        },
    }


def run_step_data(step: RunStep, run: Run, *, content: bool = True) -> dict[str, Any]:
    """A step as its run shows it, with the approval state of a tool call that needed one (and, with `content`,
    the text of a file_search's results)."""
    approval = run.approval_of(step.tool_call_id) if step.tool_call_id else None
    data = run_step_object(
        step, thread_id=run.conversation_id, assistant_id=run.assistant_id, approval=approval, content=content
    )
    return elicitation_mark(function_call_mark(data, run), run)


def elicitation_mark(data: dict[str, Any], run: Run) -> dict[str, Any]:
    """Put the question an MCP server asks during a step's call beside that call, while it waits for the answer
    (and say so in the step's metadata)."""
    asked = run.pending_elicitation
    calls = data["step_details"].get("tool_calls") or []
    if asked is not None and calls and calls[0].get("id") == asked["tool_call_id"]:
        calls[0]["elicitation"] = asked
        data["metadata"]["elicitation"] = "pending"
    return data


def function_call_mark(data: dict[str, Any], run: Run) -> dict[str, Any]:
    """Say in a step's metadata that its call is one of the caller's functions (its output is submitted)."""
    call_id = next(iter(data["step_details"].get("tool_calls") or [{}]), {}).get("id")
    if call_id and run.is_function_call(call_id):
        data["metadata"]["kind"] = "function"
    return data


def run_step_object(
    step: RunStep, *, thread_id: str, assistant_id: str | None, approval: str | None = None, content: bool = True
) -> dict[str, Any]:
    if is_file_search(step):
        details: dict[str, Any] = {"type": "tool_calls", "tool_calls": [file_search_call(step, content=content)]}
    elif step.type == RunStep.Type.TOOL_CALLS:
        details = {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": step.tool_call_id,
                    "type": "function",
                    "function": {
                        "name": step.tool_name,
                        "arguments": step.arguments,
                        "output": step.output if step.status != RunStep.Status.IN_PROGRESS else None,
                    },
                }
            ],
        }
    else:
        details = {"type": "message_creation", "message_creation": {"message_id": step.message_id}}
    return {
        "id": step.id,
        "object": "thread.run.step",
        "created_at": ts(step.created_at),
        "run_id": step.run_id,
        "assistant_id": step.assistant_id or assistant_id,  # who took it: a team member, or the run's assistant
        "thread_id": thread_id,
        "type": step.type,
        "status": step.status,
        "cancelled_at": None,
        "completed_at": ts(step.completed_at) if step.status == RunStep.Status.COMPLETED else None,
        "expired_at": None,
        "failed_at": ts(step.completed_at) if step.status == RunStep.Status.FAILED else None,
        "last_error": {"code": "tool_error", "message": step.error} if step.error else None,
        "step_details": details,
        "usage": usage_object(step),
        "metadata": step_metadata(step, approval=approval),
    }


def step_metadata(step: RunStep, *, approval: str | None) -> dict[str, str]:
    """Switchboard's additions to a step, under `metadata`, whose values are strings in the Assistants v2 wire
    format: the MCP server, the call's duration in ms, `approval` ("pending" while the call waits for the
    user, "approved" or "denied" once decided) where it needed one, and `content`: a rich result's parts as JSON."""
    metadata = {"server": step.server_name}
    if step.parent_id:
        metadata["parent_step"] = step.parent_id  # made by the team member that step's call asked
    if is_file_search(step):
        metadata["query"] = file_search_query(step)
    if step.duration_ms is not None:
        metadata["duration_ms"] = str(step.duration_ms)
    if approval:
        metadata["approval"] = approval
    return metadata | content_metadata(step)


def run_step_bounded(data: dict[str, Any], limit: int) -> dict[str, Any]:
    """A step object for events and the page, with a tool output over `limit` characters cut short: events
    cross the channel layer, whose messages are bounded (1 MiB on Redis). The API's step lists keep it whole,
    and the page links to the whole text."""
    calls = (data.get("step_details") or {}).get("tool_calls") or []
    output = calls[0].get("function", {}).get("output") if calls else None
    if not isinstance(output, str) or len(output) <= limit:
        return data
    call = {**calls[0], "function": {**calls[0]["function"], "output": output[:limit]}}
    details = {**data["step_details"], "tool_calls": [call, *calls[1:]]}
    return {**data, "step_details": details, "metadata": {**data["metadata"], "output_truncated": "true"}}
