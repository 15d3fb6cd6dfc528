"""Workflows for assistants."""

from __future__ import annotations

from dataclasses import dataclass

from agents import Agent
from agents.mcp import MCPServer as AgentsMCPServer

from assistants.factory import model_build, model_settings_build
from assistants.models import Assistant
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
