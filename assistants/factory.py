"""The one place that turns a provider and an assistant into an SDK model and its settings."""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref

from agents import Model, ModelSettings, OpenAIChatCompletionsModel, OpenAIResponsesModel
from openai import AsyncOpenAI

from assistants.models import Assistant, Provider
from assistants.offline import OfflineModel, offline_model_refusal

# One client per provider and event loop, reused across runs: a new client costs a TLS context and a new
# connection, tens of milliseconds before every first token. A changed provider gets a new client.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, tuple[str, AsyncOpenAI]]] = (
    weakref.WeakKeyDictionary()
)


def _client_new(provider: Provider) -> AsyncOpenAI:
    return AsyncOpenAI(
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


def model_build(*, provider: Provider, model_name: str) -> Model:
    if provider.kind == Provider.Kind.OFFLINE:
        return OfflineModel(model_name or "offline")
    client = provider_client(provider)
    if provider.api_style == Provider.ApiStyle.CHAT_COMPLETIONS or (
        provider.kind == Provider.Kind.OPENAI_COMPATIBLE and provider.api_style != Provider.ApiStyle.RESPONSES
    ):
        return OpenAIChatCompletionsModel(model=model_name, openai_client=client)
    return OpenAIResponsesModel(model=model_name, openai_client=client)


def model_settings_build(assistant: Assistant) -> ModelSettings:
    tool_choice = assistant.tool_choice or None
    return ModelSettings(
        temperature=assistant.temperature,
        top_p=assistant.top_p,
        max_tokens=assistant.max_output_tokens,
        parallel_tool_calls=assistant.parallel_tool_calls,
        tool_choice=tool_choice,
        # Compatible endpoints send streamed usage only when asked.
        include_usage=True,
    )
