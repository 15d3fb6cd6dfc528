"""Talking to Switchboard's MCP server in-process, and reading tool results as any MCP client does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client

from chat.mcp_server import acting_user, server


@asynccontextmanager
async def connected(user: Any, *, mode: str = "auto") -> AsyncIterator[Client]:
    """A client of the server acting as `user`, the way stdio and WebSocket sessions set their user."""
    token = acting_user.set(user)
    try:
        async with Client(server, mode=mode) as client:
            yield client
    finally:
        acting_user.reset(token)


def data(result: Any) -> dict[str, Any]:
    """The JSON object a tool returned; fails the test with the tool's error text if it refused."""
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def error(result: Any) -> str:
    assert result.is_error, result.content
    return result.content[0].text


def text_of(message: dict[str, Any]) -> str:
    return "".join(part["text"]["value"] for part in message["content"] if part["type"] == "text")
