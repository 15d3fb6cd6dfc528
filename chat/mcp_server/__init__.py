"""Switchboard's own MCP server: assistants, threads, messages, runs and run steps as MCP tools.

The tools are thin callers of the services the `/v1/` API uses, and return the same Assistants v2
objects as JSON, so every interface behaves the same. Each transport decides who is asking: stdio
(`manage.py mcp_serve --user`) and WebSocket (`/mcp/ws`) set `acting_user` for their session's task;
Streamable HTTP (`/mcp/`) authenticates every request and puts the token's user in the request's ASGI
scope. A user id never comes from tool arguments.

`base` holds the server and who a request acts for; each `tools_*` module registers its tools on import.
"""

from __future__ import annotations

from chat.mcp_server.base import SCOPE_USER_KEY, acting_user, server

# Registers the tools in this order, which is the order tools/list gives them.
from chat.mcp_server import tools_assistants, tools_threads, tools_runs  # isort: skip  # noqa: F401
from chat.mcp_server.tools_runs import http_call_cancelled

__all__ = ["SCOPE_USER_KEY", "acting_user", "http_call_cancelled", "server"]
