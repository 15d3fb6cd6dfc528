"""The one place that turns a provider and an assistant into an SDK model and its settings."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import weakref
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from agents import AgentOutputSchemaBase, Model, ModelSettings, OpenAIChatCompletionsModel, OpenAIResponsesModel
from agents.exceptions import ModelBehaviorError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from openai import AsyncOpenAI, NotGiven, Omit, omit
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions
from openai.resources.responses import AsyncResponses
from pydantic import BaseModel

from assistants.models import Assistant, Provider
from assistants.offline import OfflineModel, offline_model_refusal

# One client per provider and event loop, reused across runs: a new client costs a TLS context and a new
# connection, tens of milliseconds before every first token. A changed provider gets a new client.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, tuple[str, AsyncOpenAI]]] = (
    weakref.WeakKeyDictionary()
)


# What grows with a conversation: its messages (Chat Completions) or input items (Responses), and the tools.
_BULKY = ("messages", "input", "tools")


def _as_sent(value: Any) -> Any:
    """A request value as openai's request transform leaves it, for request types that rename and reformat
    nothing (the chat and responses ones; `tests/contracts/test_sdk_seams.py` checks both sends are the same):
    omitted fields dropped, sequences and iterators as lists, models as JSON dicts."""
    if isinstance(value, Mapping):
        return {key: _as_sent(item) for key, item in value.items() if not isinstance(item, Omit | NotGiven)}
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True, mode="json", exclude=getattr(value, "__api_exclude__", None))
    if isinstance(value, list | tuple | Iterator):
        return [_as_sent(item) for item in value]
    return value


def _bulk_sent_as_is(params: dict[str, Any]) -> dict[str, Any]:
    """The create call's arguments with its messages, input and tools moved into `extra_body`, sent as they are.

    openai walks every request against its typed parameters before sending it, a fresh type inspection at
    each value: about 0.3 ms per message, so 6 ms of CPU on every model call of a 20-turn conversation,
    growing with it. For these types the walk changes nothing the server would see; the caller's own
    `extra_body` still wins, as before."""
    moved = {name: _as_sent(params[name]) for name in _BULKY if not isinstance(params.get(name, omit), Omit | NotGiven)}
    extra = params.get("extra_body")
    params["extra_body"] = {**moved, **(extra if isinstance(extra, Mapping) else {})}
    for name in moved:
        # The messages (required) and input go out empty and the tools not at all: the body's own take their place.
        params[name] = [] if name != "tools" else omit
    return params


class _ChatCompletions(AsyncCompletions):
    async def create(self, **params: Any) -> Any:  # type: ignore[override]
        return await super().create(**_bulk_sent_as_is(params))


class _Chat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncCompletions:
        return _ChatCompletions(self._client)


class _Responses(AsyncResponses):
    async def create(self, **params: Any) -> Any:  # type: ignore[override]
        return await super().create(**_bulk_sent_as_is(params))


class ProviderClient(AsyncOpenAI):
    """The openai client, with chat completions and responses sent without openai's per-request walk of their
    messages (`_bulk_sent_as_is`)."""

    @cached_property
    def chat(self) -> AsyncChat:
        return _Chat(self)

    @cached_property
    def responses(self) -> AsyncResponses:
        return _Responses(self)


def _client_new(provider: Provider) -> AsyncOpenAI:
    return ProviderClient(
        api_key=provider.api_key or "not-needed",
        base_url=provider.base_url or None,
        timeout=provider.timeout,
        max_retries=provider.max_retries,
    )


def provider_client(provider: Provider) -> AsyncOpenAI:
    """The provider's client for this event loop; an unsaved provider (a probe) always gets its own."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _client_new(provider)
    if provider._state.adding or provider.pk is None:
        return _client_new(provider)
    settings = [provider.api_key, provider.base_url, provider.timeout, provider.max_retries]
    fingerprint = hashlib.sha256(json.dumps(settings, default=str).encode()).hexdigest()
    clients = _clients.setdefault(loop, {})
    cached = clients.get(provider.pk)
    if cached is None or cached[0] != fingerprint:
        cached = clients[provider.pk] = (fingerprint, _client_new(provider))
    return cached[1]


def model_refusal(*, provider: Provider, model_name: str) -> str:
    """Why this provider cannot serve this model ("" if it can, or cannot tell without asking it over the network:
    a vendor's model list changes, and the admin's provider test is the place to ask)."""
    if provider.kind == Provider.Kind.OFFLINE:
        return offline_model_refusal(model_name)
    return ""


def model_served(*, provider: Provider, model_name: str) -> bool | None:
    """Whether this provider serves this model, where it can tell without the network; None where it cannot."""
    if provider.kind == Provider.Kind.OFFLINE:
        return not offline_model_refusal(model_name)
    return None


MODEL_NAME_MAX_CHARS = 200
# Model names as vendors and local servers spell them: gpt-4o-mini, meta-llama/Llama-3.1-8B-Instruct, llama3.1:8b,
# claude-3-5-sonnet@20240620. Nothing else reaches a provider's request or a page.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]*$")


def model_choice_refusal(*, provider: Provider, model_name: str) -> str:
    """Why a user may not ask this provider for this model by name ("" if they may): a name of letters, digits and
    . _ : / @ + - within the limit, that the provider serves where it can tell."""
    if len(model_name) > MODEL_NAME_MAX_CHARS:
        return f"A model name is at most {MODEL_NAME_MAX_CHARS} characters."
    if not MODEL_NAME.match(model_name):
        return "A model name starts with a letter or digit and holds only letters, digits and . _ : / @ + -."
    return model_refusal(provider=provider, model_name=model_name)


def model_build(*, provider: Provider, model_name: str) -> Model:
    if provider.kind == Provider.Kind.OFFLINE:
        return OfflineModel(model_name or "offline")
    client = provider_client(provider)
    if provider.api_style == Provider.ApiStyle.CHAT_COMPLETIONS or (
        provider.kind == Provider.Kind.OPENAI_COMPATIBLE and provider.api_style != Provider.ApiStyle.RESPONSES
    ):
        return OpenAIChatCompletionsModel(model=model_name, openai_client=client)
    return OpenAIResponsesModel(model=model_name, openai_client=client)


def model_settings_build(assistant: Assistant, overrides: dict[str, Any] | None = None) -> ModelSettings:
    """The assistant's model settings, with a run's own (`overrides`, as `Run.overrides` keeps them) in place."""
    overrides = overrides or {}
    settings = {
        "temperature": assistant.temperature,
        "top_p": assistant.top_p,
        "max_tokens": assistant.max_output_tokens,
        "parallel_tool_calls": assistant.parallel_tool_calls,
        "tool_choice": assistant.tool_choice or None,
    }
    for name in ("temperature", "top_p", "parallel_tool_calls", "tool_choice"):
        if overrides.get(name) is not None:
            settings[name] = overrides[name]
    if overrides.get("max_completion_tokens") is not None:
        settings["max_tokens"] = overrides["max_completion_tokens"]
    # Compatible endpoints send streamed usage only when asked.
    return ModelSettings(**settings, include_usage=True)


class ResponseFormat(AgentOutputSchemaBase):
    """An Assistants `response_format` of json_object or json_schema, as the Agents SDK's output schema: the SDK
    asks the provider for JSON in the form its API takes (Responses `text.format`, Chat Completions
    `response_format`) and checks the answer is JSON that fits."""

    def __init__(self, response_format: dict[str, Any]) -> None:
        spec = response_format.get("json_schema") or {}
        self.schema_name = spec.get("name", "json_object")
        self.schema = spec.get("schema") or {"type": "object"}
        self.strict = bool(spec.get("strict", False))

    def is_plain_text(self) -> bool:
        return False

    def name(self) -> str:
        return self.schema_name

    def json_schema(self) -> dict[str, Any]:
        return self.schema

    def is_strict_json_schema(self) -> bool:
        return self.strict

    def validate_json(self, json_str: str) -> Any:
        try:
            value = json.loads(json_str)
        except ValueError as exc:
            raise ModelBehaviorError(f"The model's answer is not JSON: {exc}") from None
        if self.strict:
            error = best_match(Draft202012Validator(self.schema).iter_errors(value))
            if error is not None:
                raise ModelBehaviorError(f"The model's answer does not fit the schema: {error.message[:300]}")
        return value


def output_schema_build(response_format: Any) -> ResponseFormat | None:
    """The output schema for a response format; None for "auto" and text (the answer is plain text)."""
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        return ResponseFormat(response_format)
    return None
