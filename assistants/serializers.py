"""Assistants v2 wire objects for assistants."""

from __future__ import annotations

from typing import Any

from assistants.models import Assistant
from files.services import SEARCH_RESULTS_DEFAULT as FILE_SEARCH_RESULTS_DEFAULT


def tool_object(server_name: str) -> dict[str, str]:
    """An MCP server attached to an assistant, as one entry of its `tools`."""
    return {"type": "mcp", "server_label": server_name}


def function_objects(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tools as the `tools` entries OpenAI's API shows them."""
    return [{"type": "function", "function": function} for function in functions]


def file_search_objects(settings: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The file_search tool, if on, as OpenAI shows it: with its settings, defaults filled in."""
    if settings is None:
        return []
    ranking = settings.get("ranking_options") or {"ranker": "auto", "score_threshold": 0.0}
    options = {
        "max_num_results": settings.get("max_num_results", FILE_SEARCH_RESULTS_DEFAULT),
        "ranking_options": ranking,
    }
    return [{"type": "file_search", "file_search": options}]


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
        "tools": [tool_object(name) for name in servers]
        + function_objects(assistant.functions)
        + file_search_objects(assistant.file_search),
        "tool_resources": assistant.tool_resources or {},
        "metadata": assistant.metadata or {},
        "temperature": assistant.temperature,
        "top_p": assistant.top_p,
        "response_format": assistant.response_format,
    }
