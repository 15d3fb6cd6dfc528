"""The built-in offline model: deterministic, no network, speaks the Agents SDK's Model interface.

- `/tools` lists the tools it can reach.
- `/<tool_name> {json arguments}` calls that tool, then answers with its result; `/file_search <words>` searches
  the attached files for the words and answers with the passages found and the files they come from.
- `/handoff <assistant name> [message]` hands the conversation off to that assistant, which answers the message.
- Anything else gets a short reply saying it is the offline model, quoting the message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Tool, Usage, generation_span
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.tracing import GenerationSpanData, Span
from django.conf import settings
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from files.results import results_parse

MODEL_NAME = "offline"


def offline_model_refusal(name: str) -> str:
    """Why the offline model would not answer to this name ("" if it does): `offline`, or `offline-<anything>` for
    an administrator who wants several names for it (it answers the same under each)."""
    if name == MODEL_NAME or (name.startswith(f"{MODEL_NAME}-") and len(name) > len(MODEL_NAME) + 1):
        return ""
    return (
        f"The offline provider serves only the model '{MODEL_NAME}' (or a name like '{MODEL_NAME}-large'), "
        f"not '{name}'."
    )


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


def _count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _span_usage(span: Span[GenerationSpanData], response: Response, tracing: ModelTracing, text: str | None) -> None:
    """Record on the model-call span what this call reports as its usage, as the SDK's own models do."""
    usage = response.usage
    span.span_data.usage = {
        "requests": 1,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    if tracing.include_data():
        span.span_data.output = (
            [item.model_dump() for item in response.output]
            if text is None
            else [{"role": "assistant", "content": text}]
        )


def _chunks(text: str) -> list[str]:
    """Split a reply into word-sized pieces, the way a real model streams tokens."""
    return re.findall(r"\S+\s*|\s+", text) or [text]


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


def _capped(text: str | None, max_tokens: int | None) -> str | None:
    """The reply cut at `max_tokens` of the offline model's tokens (words), as a real model stops at its limit."""
    if text is None or not max_tokens or _count_tokens(text) <= max_tokens:
        return text
    return " ".join(text.split()[:max_tokens])


def _json_answer(output_schema: Any, text: str | None) -> str | None:
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


class OfflineModel(Model):
    """A deterministic model that needs no network."""

    def __init__(self, model: str = MODEL_NAME) -> None:
        self.model = model

    def _plan(
        self, input: str | list[TResponseInputItem], tools: list[Tool], handoffs: list[Any] = ()
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

    def _response(self, input: Any, output: list[Any], output_text: str) -> Response:
        input_text = json.dumps(input, default=str) if not isinstance(input, str) else input
        input_tokens = _count_tokens(input_text)
        output_tokens = _count_tokens(output_text)
        return Response(
            id="resp_offline_" + hashlib.sha256(input_text.encode()).hexdigest()[:16],
            created_at=time.time(),
            model=self.model,
            object="response",
            output=output,
            parallel_tool_calls=False,
            tool_choice="auto",
            tools=[],
            status="completed",
            usage=ResponseUsage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                total_tokens=input_tokens + output_tokens,
                input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
                output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
            ),
        )

    def _output(self, text: str | None, call: dict | None, message_id: str) -> list[Any]:
        if call is not None:
            return [
                ResponseFunctionToolCall(
                    type="function_call", id="fc_" + call["call_id"][5:], status="completed", **call
                )
            ]
        return [
            ResponseOutputMessage(
                id=message_id,
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text=text or "", annotations=[], logprobs=[])],
            )
        ]

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        with generation_span(model=self.model, model_config={}, disabled=tracing.is_disabled()) as span:
            text, call = self._plan(input, tools, handoffs)
            text = _capped(_json_answer(output_schema, text), model_settings.max_tokens)
            response = self._response(input, self._output(text, call, "msg_offline"), text or "")
            _span_usage(span, response, tracing, text)
        usage = Usage(
            requests=1,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            total_tokens=response.usage.total_tokens,
        )
        return ModelResponse(output=response.output, usage=usage, response_id=response.id)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        # The SDK's own models open their model-call span themselves; so does this one, or traces would
        # show no model call and no tokens for offline runs.
        with generation_span(model=self.model, model_config={}, disabled=tracing.is_disabled()) as span:
            text, call = self._plan(input, tools, handoffs)
            text = _capped(_json_answer(output_schema, text), model_settings.max_tokens)
            message_id = "msg_offline_" + hashlib.sha256(repr(input).encode()).hexdigest()[:16]
            output = self._output(text, call, message_id)
            final = self._response(input, output, text or "")
            # Known before the first event: a consumer that stops at `response.completed` still leaves it set.
            _span_usage(span, final, tracing, text)
            async for event in self._events(final, output, text, call, message_id):
                yield event

    async def _events(
        self, final: Response, output: list[Any], text: str | None, call: dict | None, message_id: str
    ) -> AsyncIterator[TResponseStreamEvent]:
        in_progress = final.model_copy(update={"output": [], "status": "in_progress", "usage": None})
        seq = 0

        def next_seq() -> int:
            nonlocal seq
            seq += 1
            return seq

        yield ResponseCreatedEvent(type="response.created", response=in_progress, sequence_number=next_seq())
        item = output[0]
        if call is not None:
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added", item=item, output_index=0, sequence_number=next_seq()
            )
        else:
            empty = item.model_copy(update={"content": [], "status": "in_progress"})
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added", item=empty, output_index=0, sequence_number=next_seq()
            )
            part = ResponseOutputText(type="output_text", text="", annotations=[], logprobs=[])
            yield ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=message_id,
                output_index=0,
                content_index=0,
                part=part,
                sequence_number=next_seq(),
            )
            # A pause between words, so the reply reads as it streams (OFFLINE_STREAM_DELAY_MS; 0: no pause).
            pause = settings.OFFLINE_STREAM_DELAY_MS / 1000
            for index, piece in enumerate(_chunks(text or "")):
                if pause and index:
                    await asyncio.sleep(pause)
                yield ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    item_id=message_id,
                    output_index=0,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                    sequence_number=next_seq(),
                )
            yield ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=message_id,
                output_index=0,
                content_index=0,
                part=item.content[0],
                sequence_number=next_seq(),
            )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=item, output_index=0, sequence_number=next_seq()
        )
        yield ResponseCompletedEvent(type="response.completed", response=final, sequence_number=next_seq())
