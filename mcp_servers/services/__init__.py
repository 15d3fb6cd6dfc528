"""Workflows for MCP server configurations, by what they concern; every interface imports them from here.

`connections.py` borrows a pooled connection and checks a server, `own.py` holds a user's own remote servers,
`catalog.py` lists, reads and renders a server's resources and prompts.
"""

from __future__ import annotations

from mcp_servers.services.catalog import (
    RESOURCE_TEXT_MAX_CHARS,
    mcp_server_app_read,
    mcp_server_catalog,
    mcp_server_prompt_get,
    mcp_server_prompt_list,
    mcp_server_resource_read,
)
from mcp_servers.services.connections import CheckResult, mcp_server_check, mcp_server_connect
from mcp_servers.services.own import (
    OWN_TRANSPORTS,
    mcp_server_own_allowed,
    mcp_server_own_create,
    mcp_server_own_delete,
)

__all__ = [
    "OWN_TRANSPORTS",
    "RESOURCE_TEXT_MAX_CHARS",
    "CheckResult",
    "mcp_server_app_read",
    "mcp_server_catalog",
    "mcp_server_check",
    "mcp_server_connect",
    "mcp_server_own_allowed",
    "mcp_server_own_create",
    "mcp_server_own_delete",
    "mcp_server_prompt_get",
    "mcp_server_prompt_list",
    "mcp_server_resource_read",
]
