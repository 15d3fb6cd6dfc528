"""The one place that turns a provider and an assistant into an SDK model and its settings."""

from __future__ import annotations

from agents import Model, ModelSettings, OpenAIChatCompletionsModel, OpenAIResponsesModel
from openai import AsyncOpenAI

from assistants.models import Assistant, Provider
from assistants.offline import OfflineModel


def provider_client(provider: Provider) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=provider.api_key or "not-needed",
        base_url=provider.base_url or None,
        timeout=provider.timeout,
        max_retries=provider.max_retries,
    )


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
