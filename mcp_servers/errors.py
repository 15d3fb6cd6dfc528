"""Errors of MCP connections; their messages are safe to show to users."""

from __future__ import annotations


class MCPConnectError(Exception):
    """An MCP server could not be reached."""


class MCPCallTimeout(Exception):
    """A tool call outlived its timeout without reporting progress."""


class MCPConnectionLost(Exception):
    """The server went away during a call (a crashed process, a dropped socket)."""
