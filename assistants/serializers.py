"""Assistants v2 wire objects for assistants."""

from __future__ import annotations

from typing import Any

from assistants.models import Assistant


def tool_object(server_name: str) -> dict[str, str]:
    """An MCP server attached to an assistant, as one entry of its `tools`."""
    return {"type": "mcp", "server_label": server_name}


def function_objects(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tools as the `tools` entries OpenAI's API shows them."""
    return [{"type": "function", "function": function} for function in functions]


def assistant_object(assistant: Assistant) -> dict[str, Any]:
    # Prefetched servers are read from the cache; sorting here keeps `tools` stable either way.
    servers = sorted(server.name for server in assistant.mcp_servers.all())
    return {
        "id": assistant.id,
        "object": "assistant",
        "created_at": int(assistant.created_at.timestamp()),
        "name": assistant.name,
        "description": assistant.description or None,
        "model": assistant.model_name,
        "instructions": assistant.instructions or None,
        "tools": [tool_object(name) for name in servers] + function_objects(assistant.functions),
        "tool_resources": {},
        "metadata": assistant.metadata or {},
        "temperature": assistant.temperature,
        "top_p": assistant.top_p,
        "response_format": assistant.response_format,
    }
