"""Errors of MCP connections; their messages are safe to show to users."""

from __future__ import annotations


class MCPConnectError(Exception):
    """An MCP server could not be reached.

    The message names the server; `reason` is what went wrong without the name, for lists that already give it.
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class MCPCallTimeout(Exception):
    """A tool call outlived its timeout without reporting progress."""


class MCPConnectionLost(Exception):
    """The server went away during a call (a crashed process, a dropped socket)."""
