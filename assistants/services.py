"""Workflows for assistants."""

from __future__ import annotations

import time
from dataclasses import dataclass

from agents import Agent, ModelSettings, ModelTracing
from agents.mcp import MCPServer as AgentsMCPServer

from assistants.errors import provider_error_describe
from assistants.factory import model_build, model_settings_build
from assistants.models import Assistant, Provider
from mcp_servers.services import mcp_server_connect


class AssistantUnavailable(Exception):
    """The assistant cannot run; the message is safe to show to users."""


@dataclass
class AgentBuild:
    agent: Agent
    servers: list[AgentsMCPServer]


async def assistant_agent_build(*, assistant: Assistant, user_id: int, username: str, instructions: str) -> AgentBuild:
    """Build the SDK agent for one run: the provider's model plus pooled MCP servers."""
    provider = assistant.provider
    if not provider.enabled:
        raise AssistantUnavailable(f"The provider '{provider.name}' is disabled.")
    model_name = assistant.model_name
    if not model_name:
        raise AssistantUnavailable(f"The assistant '{assistant.name}' has no model and its provider no default.")
    servers = []
    async for config in assistant.mcp_servers.filter(enabled=True).order_by("name"):
        servers.append(await mcp_server_connect(server=config, user_id=user_id, username=username))
    agent = Agent(
        name=assistant.name,
        instructions=instructions or None,
        model=model_build(provider=provider, model_name=model_name),
        model_settings=model_settings_build(assistant),
        mcp_servers=servers,
    )
    return AgentBuild(agent=agent, servers=servers)


@dataclass
class ProviderCheck:
    ok: bool
    latency_ms: int
    message: str


async def provider_check(*, provider: Provider, model_name: str = "") -> ProviderCheck:
    """Make one small real request to the provider and report how it went."""
    model_name = model_name or provider.default_model
    if not model_name:
        return ProviderCheck(False, 0, "Set a default model first.")
    # One attempt only: the admin wants the real answer, not a retried one.
    probe = Provider(**{f.attname: getattr(provider, f.attname) for f in Provider._meta.concrete_fields})
    probe.max_retries = 0
    model = model_build(provider=probe, model_name=model_name)
    started = time.monotonic()
    try:
        await model.get_response(
            None,
            "Reply with the word pong.",
            ModelSettings(max_tokens=16),
            [],
            None,
            [],
            ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        )
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is raised
        latency = int((time.monotonic() - started) * 1000)
        described = provider_error_describe(exc, model=model_name, timeout=provider.timeout)
        message = described[1] if described else f"The request failed ({type(exc).__name__})."
        return ProviderCheck(False, latency, message)
    return ProviderCheck(True, int((time.monotonic() - started) * 1000), f"{model_name} answered.")
