"""Request bodies of the thread, message and run endpoints, checked and mapped to service arguments.

Fields OpenAI defines but Switchboard does not map are accepted only when null, so a client never
believes a setting took effect when it did not; fields nobody defines are rejected by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistants.api import file_search_parse, function_parse, response_format_parse
from core.api import boolean, fields_check, invalid, number, string

MESSAGE_FIELDS = ("role", "content", "attachments", "metadata")
THREAD_FIELDS = ("messages", "metadata", "tool_resources")
# A run's own settings, in place of its assistant's (`Run.overrides`).
OVERRIDES = (
    "temperature",
    "top_p",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "max_completion_tokens",
    "max_prompt_tokens",
    "truncation_strategy",
)
# OpenAI's least token limits of a run (its spec's `minimum`).
TOKENS_MIN = 256
RUN_FIELDS = (
    "assistant_id",
    "model",
    "instructions",
    "additional_instructions",
    "additional_messages",
    "metadata",
    "stream",
    "tools",
    *OVERRIDES,
)
RUN_UNSUPPORTED = ("reasoning_effort",)
CREATE_AND_RUN_FIELDS = (
    "assistant_id",
    "thread",
    "model",
    "instructions",
    "metadata",
    "stream",
    "tools",
    "tool_resources",
    *OVERRIDES,
)
CREATE_AND_RUN_UNSUPPORTED = RUN_UNSUPPORTED


def _empty(data: dict[str, Any], name: str, param: str) -> None:
    """Attachments come with a message added to a thread (POST /threads/{thread_id}/messages) only."""
    if data.get(name) not in (None, [], {}):
        raise invalid(
            f"'{name}' are taken on messages added to a thread (POST /threads/{{thread_id}}/messages); or add the "
            "files to a vector store and give it to the thread (tool_resources.file_search.vector_store_ids).",
            param=param,
        )


def content_text(value: Any, *, param: str) -> str:
    """A message's content: a string, or OpenAI's list of text parts, joined."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise invalid("'content' must be a string or a list of text parts.", param=param, code="invalid_type")
    texts = []
    for index, part in enumerate(value):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise invalid(
                "Only text content parts ({'type': 'text', 'text': '…'}) are supported.",
                param=f"{param}[{index}]",
                code="invalid_value",
            )
        texts.append(part["text"])
    return "\n".join(texts)


def content_images(value: Any, *, param: str) -> tuple[Any, list[str]]:
    """A message's content less its `image_file` parts, and those parts' file ids."""
    if not isinstance(value, list):
        return value, []
    images, rest = [], []
    for index, part in enumerate(value):
        if isinstance(part, dict) and part.get("type") == "image_file":
            fields_check(part, known=("type", "image_file"), prefix=f"{param}[{index}].")
            image = part.get("image_file")
            if not isinstance(image, dict) or not isinstance(image.get("file_id"), str):
                raise invalid("'image_file' must be {'file_id': …}.", param=f"{param}[{index}].image_file")
            fields_check(image, known=("file_id", "detail"), prefix=f"{param}[{index}].image_file.")
            images.append(image["file_id"])
        else:
            rest.append(part)
    if images and not rest:
        rest = [{"type": "text", "text": ""}]
    return rest, images


def message_files_parse(data: dict[str, Any]) -> dict[str, Any]:
    """A message's `attachments` (file ids for file_search) and `image_file` content parts, for message_create
    (which checks the files are the user's)."""
    content, images = content_images(data.get("content"), param="content")
    attachments = data.get("attachments") or []
    if not isinstance(attachments, list):
        raise invalid("'attachments' must be a list.", param="attachments", code="invalid_type")
    file_ids = []
    for index, attachment in enumerate(attachments):
        param = f"attachments[{index}]"
        if not isinstance(attachment, dict) or not isinstance(attachment.get("file_id"), str):
            raise invalid("Each attachment must be {'file_id': …, 'tools': […]}.", param=param, code="invalid_type")
        fields_check(attachment, known=("file_id", "tools"), prefix=f"{param}.")
        tools = attachment.get("tools") or [{"type": "file_search"}]
        if not isinstance(tools, list) or any(not isinstance(t, dict) or t.get("type") != "file_search" for t in tools):
            raise invalid(
                "An attachment's tools can only be file_search ({'type': 'file_search'}).", param=f"{param}.tools"
            )
        file_ids.append(attachment["file_id"])
    return {"content": content, "attachment_ids": file_ids, "image_file_ids": images}


def message_parse(data: dict[str, Any], *, prefix: str = "", files: bool = False) -> dict[str, Any]:
    """A message to add: {'role', 'content', 'metadata'} for message_add or thread_create; with `files` (a message
    added to a thread) its attachments and image files too."""
    fields_check(data, known=MESSAGE_FIELDS, prefix=prefix)
    if files:
        found = message_files_parse(data)
        parsed = message_parse({**data, "content": found.pop("content"), "attachments": None}, prefix=prefix)
        return {**parsed, **found}
    role = data.get("role")
    if role not in ("user", "assistant"):
        raise invalid("'role' must be 'user' or 'assistant'.", param=f"{prefix}role", code="invalid_value")
    if "content" not in data:
        raise invalid("Missing required parameter: 'content'.", param=f"{prefix}content")
    _empty(data, "attachments", f"{prefix}attachments")
    return {
        "role": role,
        "content": content_text(data["content"], param=f"{prefix}content"),
        "metadata": data.get("metadata"),
    }


def thread_parse(data: dict[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """A new thread: {'messages', 'metadata', 'tool_resources'} for thread_create (which checks the stores)."""
    fields_check(data, known=THREAD_FIELDS, prefix=prefix)
    messages = data.get("messages") or []
    if not isinstance(messages, list):
        raise invalid("'messages' must be a list.", param=f"{prefix}messages", code="invalid_type")
    parsed = []
    for index, entry in enumerate(messages):
        if not isinstance(entry, dict):
            raise invalid("Each message must be an object.", param=f"{prefix}messages[{index}]", code="invalid_type")
        parsed.append(message_parse(entry, prefix=f"{prefix}messages[{index}].", files=True))
    return {
        "messages": parsed,
        "metadata": data.get("metadata"),
        "tool_resources": data.get("tool_resources"),
        "tool_resources_param": f"{prefix}tool_resources",
    }


def tool_resources_merge(thread: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """createAndRun's own `tool_resources` stand for its new thread's (one of the two, not both)."""
    if data.get("tool_resources") is None:
        return thread
    if thread["tool_resources"] is not None:
        raise invalid(
            "Give 'tool_resources' or 'thread.tool_resources', not both: they are the new thread's.",
            param="tool_resources",
        )
    return {**thread, "tool_resources": data["tool_resources"], "tool_resources_param": "tool_resources"}


def metadata_parse(
    data: dict[str, Any], *, unsupported: tuple[str, ...] = (), known: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The body of a modify call: metadata (and the `known` fields the caller reads). None leaves it as it is;
    null clears it."""
    fields_check(data, known=("metadata", *known), unsupported=unsupported)
    if "metadata" not in data:
        return None
    return data["metadata"] or {}


@dataclass
class RunRequest:
    assistant_id: str
    stream: bool
    options: dict[str, Any] = field(default_factory=dict)
    thread: dict[str, Any] = field(default_factory=dict)


def _run_options(data: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("model", "instructions", "additional_instructions"):
        value = string(data, name)
        if value is not None:
            options[name] = value
    if data.get("metadata") is not None:
        options["metadata"] = data["metadata"]
    if data.get("tools") is not None:
        options["functions"] = _run_functions(data["tools"])
    overrides = _run_overrides(data)
    search = _run_file_search(data.get("tools"))
    if search is not None:
        overrides["file_search"] = search
    if overrides:
        options["overrides"] = overrides
    return options


def _run_overrides(data: dict[str, Any]) -> dict[str, Any]:
    """The run's own settings that were given (null leaves the assistant's)."""
    overrides: dict[str, Any] = {}
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = number(data, name)
        if value is not None:
            if not low <= value <= high:
                raise invalid(f"'{name}' must be from {low} to {high}.", param=name)
            overrides[name] = value
    if boolean(data, "parallel_tool_calls") is not None:
        overrides["parallel_tool_calls"] = boolean(data, "parallel_tool_calls")
    for name in ("max_completion_tokens", "max_prompt_tokens"):
        limit = data.get(name)
        if limit is not None:
            overrides[name] = _whole_number(limit, param=name, least=TOKENS_MIN)
    if data.get("truncation_strategy") is not None:
        overrides["truncation_strategy"] = _truncation_strategy(data["truncation_strategy"])
    if data.get("response_format") is not None:
        overrides["response_format"] = response_format_parse(data["response_format"])
    choice = data.get("tool_choice")
    if choice is not None:
        overrides["tool_choice"] = _tool_choice(choice)
    return overrides


def _whole_number(value: Any, *, param: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{param}' must be a whole number.", param=param, code="invalid_type")
    if value < least:
        raise invalid(f"'{param}' must be at least {least}.", param=param, code="invalid_value")
    return value


def _truncation_strategy(value: Any) -> dict[str, Any]:
    """{"type": "auto"} or {"type": "last_messages", "last_messages": N}: how much of the thread the run reads."""
    if not isinstance(value, dict):
        raise invalid("'truncation_strategy' must be an object.", param="truncation_strategy", code="invalid_type")
    fields_check(value, known=("type", "last_messages"), prefix="truncation_strategy.")
    kind = value.get("type")
    if kind not in ("auto", "last_messages"):
        raise invalid(
            "'truncation_strategy.type' must be 'auto' or 'last_messages'.",
            param="truncation_strategy.type",
            code="invalid_value",
        )
    count = value.get("last_messages")
    if kind == "auto":
        if count is not None:
            raise invalid(
                "'last_messages' goes with the type 'last_messages'.", param="truncation_strategy.last_messages"
            )
        return {"type": "auto", "last_messages": None}
    if count is None:
        raise invalid(
            "Missing required parameter: 'truncation_strategy.last_messages'.",
            param="truncation_strategy.last_messages",
        )
    count = _whole_number(count, param="truncation_strategy.last_messages", least=1)
    return {"type": "last_messages", "last_messages": count}


def _tool_choice(choice: Any) -> str:
    """ "none", "auto", "required", or {"type": "function", "function": {"name": …}} (that tool, by name)."""
    if choice in ("none", "auto", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return name
    raise invalid(
        'tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}.',
        param="tool_choice",
    )


def _run_functions(tools: Any) -> list[dict[str, Any]]:
    """A run's `tools`: function tools in place of its assistant's (its MCP servers stay the assistant's)."""
    if not isinstance(tools, list):
        raise invalid("'tools' must be a list.", param="tools", code="invalid_type")
    functions: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if isinstance(tool, dict) and tool.get("type") == "file_search":
            continue  # the run's file_search settings (_run_file_search)
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid(
                "A run's tools are function tools; its MCP servers are its assistant's (change those on the "
                "assistant).",
                param=param,
                code="invalid_value",
            )
        functions.append(function_parse(tool, param=param, known=functions))
    return functions


def _run_file_search(tools: Any) -> dict[str, Any] | None:
    """The settings of a run's `{"type": "file_search"}` tool, in place of its assistant's; None without one."""
    found = None
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        if isinstance(tool, dict) and tool.get("type") == "file_search":
            if found is not None:
                raise invalid("Only one file_search tool.", param=f"tools[{index}]")
            found = file_search_parse(tool, param=f"tools[{index}]")
    return found


def run_parse(data: dict[str, Any]) -> RunRequest:
    """POST /threads/{thread_id}/runs."""
    fields_check(data, known=RUN_FIELDS, unsupported=RUN_UNSUPPORTED)
    options = _run_options(data)
    messages = data.get("additional_messages") or []
    if not isinstance(messages, list):
        raise invalid("'additional_messages' must be a list.", param="additional_messages", code="invalid_type")
    for index, entry in enumerate(messages):
        if not isinstance(entry, dict):
            raise invalid("Each message must be an object.", param=f"additional_messages[{index}]")
    if messages:
        options["additional_messages"] = [
            message_parse(entry, prefix=f"additional_messages[{index}].") for index, entry in enumerate(messages)
        ]
    return RunRequest(
        assistant_id=string(data, "assistant_id", required=True),
        stream=bool(boolean(data, "stream")),
        options=options,
    )


def create_and_run_parse(data: dict[str, Any]) -> RunRequest:
    """POST /threads/runs: a new thread and its first run."""
    fields_check(data, known=CREATE_AND_RUN_FIELDS, unsupported=CREATE_AND_RUN_UNSUPPORTED)
    thread = data.get("thread") or {}
    if not isinstance(thread, dict):
        raise invalid("'thread' must be an object.", param="thread", code="invalid_type")
    options = _run_options(data)
    options.pop("additional_instructions", None)
    return RunRequest(
        assistant_id=string(data, "assistant_id", required=True),
        stream=bool(boolean(data, "stream")),
        options=options,
        thread=tool_resources_merge(thread_parse(thread, prefix="thread."), data),
    )


def tool_outputs_parse(data: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """POST …/submit_tool_outputs: (tool_call_id, output) pairs, and whether to stream. A function call's output is
    its result; for an MCP call waiting on approval, "approve" approves it and any other output refuses it."""
    fields_check(data, known=("tool_outputs", "stream"))
    outputs = data.get("tool_outputs")
    if not isinstance(outputs, list) or not outputs:
        raise invalid("'tool_outputs' must be a non-empty list.", param="tool_outputs", code="invalid_type")
    pairs = []
    for index, entry in enumerate(outputs):
        param = f"tool_outputs[{index}]"
        if not isinstance(entry, dict):
            raise invalid("Each tool output must be an object.", param=param, code="invalid_type")
        fields_check(entry, known=("tool_call_id", "output"), prefix=f"{param}.")
        call_id = entry.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid("'tool_call_id' must be a string.", param=f"{param}.tool_call_id", code="invalid_type")
        output = entry.get("output", "")
        if not isinstance(output, str):
            raise invalid("'output' must be a string.", param=f"{param}.output", code="invalid_type")
        if call_id in (pair[0] for pair in pairs):
            raise invalid(f"Tool call '{call_id}' has two outputs.", param=f"{param}.tool_call_id")
        pairs.append((call_id, output))
    return pairs, bool(boolean(data, "stream"))
