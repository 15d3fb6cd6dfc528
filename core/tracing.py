"""A small hook into the Agents SDK's tracing for code below the observability app (mcp_servers, say)."""

from __future__ import annotations

from typing import Any

from agents.tracing import SpanError, get_current_span


def current_span_error_mark(*, message: str, data: dict[str, Any] | None = None) -> None:
    """Mark the span open right now (a tool call's, say) as failed, where the SDK itself cannot tell: an MCP
    tool that answers with `isError` still returns normally."""
    span = get_current_span()
    if span is not None:
        span.set_error(SpanError(message=message, data=data or {}))
