"""The built-in offline model: deterministic, no network, speaks the Agents SDK's Model interface.

What it answers, and the commands it takes, are in `assistants.offline_replies`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
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

from assistants.offline_replies import count_tokens, reply_capped, reply_json, reply_plan

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


class OfflineModel(Model):
    """A deterministic model that needs no network."""

    def __init__(self, model: str = MODEL_NAME) -> None:
        self.model = model

    _plan = staticmethod(reply_plan)

    def _response(self, input: Any, output: list[Any], output_text: str) -> Response:
        input_text = json.dumps(input, default=str) if not isinstance(input, str) else input
        input_tokens = count_tokens(input_text)
        output_tokens = count_tokens(output_text)
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
            text = reply_capped(reply_json(output_schema, text), model_settings.max_tokens)
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
            text = reply_capped(reply_json(output_schema, text), model_settings.max_tokens)
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
