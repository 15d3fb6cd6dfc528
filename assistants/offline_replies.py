"""What the offline model answers: its commands, read from the last message, and the replies it writes.

- `/tools` lists the tools it can reach.
- `/<tool_name> {json arguments}` calls that tool, then answers with its result; `/file_search <words>` searches
  the attached files for the words and answers with the passages found and the files they come from.
- `/handoff <assistant name> [message]` hands the conversation off to that assistant, which answers the message.
- Anything else gets a short reply saying it is the offline model, quoting the message.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from agents import Tool
from agents.items import TResponseInputItem

from files.results import results_parse

_COMMAND = re.compile(r"^/([A-Za-z0-9_.\-]+)\s*(.*)$", re.DOTALL)
# `/<server>:<prompt> …` asks for an MCP prompt, which the chat page turns into the prompt's messages: one that
# reaches the model (sent another way) is no tool call.
_PROMPT_COMMAND = re.compile(r"^/[A-Za-z0-9_\-]+:[A-Za-z0-9_.\-]+(\s|$)")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        text = part.get("text") if isinstance(part, dict) else getattr(part, "text", None)
        if text:
            parts.append(text)
    return "".join(parts)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _instance(schema: Any, text: str, depth: int = 0) -> Any:
    """A small value that fits a JSON Schema: its required (or, for the top object, all) properties, each of its
    type; strings say `text`, the reply the model would have given."""
    if not isinstance(schema, dict) or depth > 8:
        return text
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _instance(schema[key][0], text, depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        names = list(properties) if depth == 0 else list(schema.get("required") or [])
        return {name: _instance(properties.get(name), text, depth + 1) for name in names} or (
            {"answer": text} if depth == 0 and not properties else {}
        )
    if kind == "array":
        minimum = schema.get("minItems", 0)
        return [_instance(schema.get("items"), text, depth + 1) for _ in range(minimum)]
    return {"string": text, "integer": 0, "number": 0, "boolean": False, "null": None}.get(kind, text)


def reply_capped(text: str | None, max_tokens: int | None) -> str | None:
    """The reply cut at `max_tokens` of the offline model's tokens (words), as a real model stops at its limit."""
    if text is None or not max_tokens or count_tokens(text) <= max_tokens:
        return text
    return " ".join(text.split()[:max_tokens])


def reply_json(output_schema: Any, text: str | None) -> str | None:
    """With an output schema (a response format of JSON), the reply as JSON that fits it."""
    if text is None or output_schema is None or output_schema.is_plain_text():
        return text
    return json.dumps(_instance(output_schema.json_schema(), text), ensure_ascii=False)


HANDOFF_PREFIX = "transfer_to_"


def _reply(message: str) -> str:
    """The offline model's answer to a message that is no command: it says what it is and quotes the message."""
    quoted = message if len(message) <= 200 else message[:200] + "…"
    intro = "I am the offline model: I run inside Switchboard without a network."
    hint = "Send `/tools` to see the tools I can call."
    if "\n" in quoted:
        # A block quote keeps several lines (and any code fence in them) whole.
        block = "\n".join(f"> {line}" if line else ">" for line in quoted.split("\n"))
        return f"{intro} You said:\n\n{block}\n\n{hint}"
    return f"{intro} You said: “{quoted}”. {hint}"


FILE_SEARCH_QUOTED = 3
QUOTE_CHARS = 300


def _file_search_answer(found: dict[str, Any]) -> str:
    """The best passages a search found, each quoted with its marker (what makes the answer's citations)."""
    results = found["results"][:FILE_SEARCH_QUOTED]
    if not results:
        return f"I found nothing about “{found.get('query', '')}” in the attached files."
    lines = [f"From the attached files, about “{found.get('query', '')}”:", ""]
    for result in results:
        text = " ".join(str(result.get("text", "")).split())
        if len(text) > QUOTE_CHARS:
            text = text[: QUOTE_CHARS - 1].rstrip() + "…"
        lines.append(f"- {text} {result.get('marker', '')}")
    return "\n".join(lines)


def _handoff_plan(message: str, handoffs: list[Any]) -> tuple[str | None, dict | None]:
    """`/handoff <assistant name> [message]`: call the handoff to the assistant whose name begins the rest."""
    rest = message.removeprefix("/handoff").strip()
    names = {getattr(h, "agent_name", ""): h for h in handoffs}
    match = max((n for n in names if n and rest.lower().startswith(n.lower())), key=len, default=None)
    if match is None:
        known = ", ".join(f"`{n}`" for n in sorted(names)) or "none"
        return f"There is no assistant named `{rest}` to hand off to. I can hand off to: {known}.", None
    call_id = "call_" + secrets.token_hex(12)
    return None, {"name": names[match].tool_name, "arguments": "{}", "call_id": call_id}


def _handed_message(items: list[Any]) -> str:
    """The message a handoff was asked with: the last user message, less its `/handoff <name>`."""
    message = next((_text_of(_field(i, "content")) for i in reversed(items) if _field(i, "role") == "user"), "")
    target = next((_field(i, "name") for i in reversed(items) if _field(i, "type") == "function_call"), "") or ""
    words = message.removeprefix("/handoff").strip()
    # The handoff's name is the assistant's, lowered, with underscores: drop as many words as it has.
    count = len(target.removeprefix(HANDOFF_PREFIX).split("_"))
    rest = " ".join(words.split(" ")[count:]).strip() if message.startswith("/handoff") else message
    return rest or message


def reply_plan(
    input: str | list[TResponseInputItem], tools: list[Tool], handoffs: list[Any] = ()
) -> tuple[str | None, dict | None]:
    """Decide the reply: (text, None) or (None, a function call)."""
    items: list[Any] = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
    if not items:
        return "I am the offline model. Send me a message.", None
    last = items[-1]
    if _field(last, "type") == "function_call_output":
        call_id = _field(last, "call_id")
        name = next(
            (
                _field(i, "name")
                for i in items
                if _field(i, "type") == "function_call" and _field(i, "call_id") == call_id
            ),
            "the tool",
        )
        if isinstance(name, str) and name.startswith(HANDOFF_PREFIX):
            # Handed the conversation: answer the message that asked for it, as this assistant.
            return _reply(_handed_message(items)), None
        output = _field(last, "output")
        if not isinstance(output, str):
            output = _text_of(output) or json.dumps(output, default=str)
        found = results_parse(output) if name == "file_search" else None
        if found is not None:
            return _file_search_answer(found), None
        return f"The tool `{name}` returned: {output}", None

    message = _text_of(_field(last, "content")).strip()
    names = {getattr(t, "name", ""): t for t in tools}
    if message == "/tools":
        if not names:
            return "I can reach no tools in this conversation.", None
        lines = [f"- `{n}`: {getattr(t, 'description', '') or 'no description'}" for n, t in sorted(names.items())]
        return "I can call these tools:\n\n" + "\n".join(lines), None

    if message == "/handoff" or message.startswith("/handoff "):
        return _handoff_plan(message, handoffs)
    if _PROMPT_COMMAND.match(message):
        asked = message.split()[0]
        return f"`{asked}` asks for an MCP server's prompt: send it from the chat page to use it.", None
    command = _COMMAND.match(message)
    if command:
        name, raw = command.group(1), command.group(2).strip()
        if name not in names:
            return f"There is no tool named `{name}` here. Send `/tools` to see the tools I can call.", None
        try:
            arguments = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            if name != "file_search":
                return f"The arguments for `{name}` are not valid JSON ({exc.msg}).", None
            # `/file_search <words>` searches for the words, as a model would phrase the query.
            arguments = {"query": raw}
        if not isinstance(arguments, dict):
            return f"The arguments for `{name}` must be a JSON object.", None
        # Unique, as a real model's are: two conversations making the same call must not share its id.
        call_id = "call_" + secrets.token_hex(12)
        return None, {"name": name, "arguments": json.dumps(arguments), "call_id": call_id}

    return _reply(message), None
