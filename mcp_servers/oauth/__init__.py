"""OAuth for remote MCP servers that want each user to sign in (the MCP authorization spec).

A Streamable HTTP or SSE server that answers 401 with a Bearer `WWW-Authenticate` challenge is OAuth-protected.
Discovery reads its protected resource metadata (RFC 9728) and its authorization server's metadata (RFC 8414, or
OpenID Connect discovery); Switchboard registers itself as a client (RFC 7591) unless an administrator entered a
client id. Each user then connects their own account: the authorization code flow with PKCE (S256) and the
`resource` parameter (RFC 8707), the state bound to their session. Their tokens are stored encrypted per (user,
server), refreshed shortly before they expire and again when the server answers 401; only that user's connections
send them. The pieces come from the `mcp` SDK's client auth (metadata models, discovery URLs, PKCE); its
`OAuthClientProvider` runs the whole flow inside one coroutine, which a web app's redirect and callback cannot.

`discovery.py` finds out and registers, `sign_in.py` connects an account, `tokens.py` uses, refreshes and revokes
its tokens; `common.py` holds what they share. Every interface imports them from here.
"""

from __future__ import annotations

from mcp_servers.oauth.common import OAUTH_TRANSPORTS, AuthorizationRequired, OAuthError, oauth_connect_path
from mcp_servers.oauth.discovery import oauth_client_get, oauth_discover
from mcp_servers.oauth.sign_in import (
    PENDING_KEY,
    oauth_authorization_finish,
    oauth_authorization_origin,
    oauth_authorization_start,
)
from mcp_servers.oauth.tokens import (
    oauth_account_for,
    oauth_account_refresh,
    oauth_account_revoke,
    oauth_launch_params,
)

__all__ = [
    "OAUTH_TRANSPORTS",
    "PENDING_KEY",
    "AuthorizationRequired",
    "OAuthError",
    "oauth_account_for",
    "oauth_account_refresh",
    "oauth_account_revoke",
    "oauth_authorization_finish",
    "oauth_authorization_origin",
    "oauth_authorization_start",
    "oauth_client_get",
    "oauth_connect_path",
    "oauth_discover",
    "oauth_launch_params",
]
