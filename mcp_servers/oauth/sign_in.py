"""Connecting a user's account: the authorization code flow with PKCE (S256) and the `resource` parameter (RFC
8707), its state bound to the user's session, ending with their tokens stored for the (user, server)."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.db import IntegrityError
from mcp.client.auth import PKCEParameters
from mcp.client.auth.utils import issuers_match
from mcp.shared.auth import OAuthToken

from mcp_servers.models import MCPServer, OAuthAccount
from mcp_servers.oauth.common import (
    OAuthError,
    client_auth,
    expires_at,
    server_metadata_of,
    token_request,
    url_checked,
)
from mcp_servers.oauth.discovery import oauth_client_get, oauth_client_register, oauth_discover

# Authorizations begun but not finished, kept in the user's session: at most this many, for this long.
PENDING_KEY = "mcp_oauth_pending"
PENDING_MAX = 5
PENDING_SECONDS = 900


async def oauth_authorization_origin(*, server: MCPServer) -> str:
    """The origin of the server's authorization endpoint ("" if it asks for no sign-in), discovering it first if
    need be: the page that starts a sign-in must allow its form to lead there (CSP `form-action`)."""
    row = await oauth_client_get(server=server) or await oauth_discover(server=server)
    if row is None:
        return ""
    endpoint = urlsplit(str(server_metadata_of(row).authorization_endpoint))
    port = f":{endpoint.port}" if endpoint.port else ""
    return f"{endpoint.scheme}://{endpoint.hostname}{port}"


async def oauth_authorization_start(
    *, user_id: int, server: MCPServer, redirect_uri: str, pending: dict[str, Any], next_url: str = ""
) -> tuple[str, dict[str, Any]]:
    """Begin connecting the user's account: the authorization URL to send them to, and the pending
    authorizations to keep in their session (the PKCE verifier never leaves the server)."""
    row = await oauth_client_get(server=server) or await oauth_discover(server=server)
    if row is None:
        raise OAuthError(f"MCP server '{server.name}' does not ask its users to sign in.")
    row.server = server
    row = await oauth_client_register(row, redirect_uri=redirect_uri)
    metadata = server_metadata_of(row)
    pkce = PKCEParameters.generate()
    state = secrets.token_urlsafe(32)
    query = {
        "response_type": "code",
        "client_id": row.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": pkce.code_challenge,
        "code_challenge_method": "S256",
        "resource": row.resource,
    }
    if row.scope:
        query["scope"] = row.scope
    now = time.time()
    kept = {key: value for key, value in pending.items() if now - value.get("at", 0) < PENDING_SECONDS}
    kept = dict(sorted(kept.items(), key=lambda item: item[1]["at"])[-(PENDING_MAX - 1) :])
    kept[state] = {
        "server": server.pk,
        "user": user_id,
        "verifier": pkce.code_verifier,
        "redirect_uri": redirect_uri,
        "next": next_url,
        "at": now,
    }
    endpoint = await url_checked(str(metadata.authorization_endpoint))
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}", kept


async def oauth_authorization_finish(*, user_id: int, pending: dict[str, Any], query: dict[str, str]) -> OAuthAccount:
    """Finish connecting: check the state is one this user's session began, swap the code for tokens, store them."""
    begun = pending.get(query.get("state") or "")
    if begun is None or begun.get("user") != user_id or time.time() - begun.get("at", 0) >= PENDING_SECONDS:
        raise OAuthError("This sign-in was not started here, or took too long. Start it again.")
    server = await MCPServer.objects.filter(pk=begun["server"]).afirst()
    row = await oauth_client_get(server=server) if server is not None else None
    if row is None:
        raise OAuthError("This MCP server no longer asks its users to sign in.")
    if error := query.get("error"):
        described = query.get("error_description", "")[:200]
        raise OAuthError(
            f"The authorization server did not grant access ({error[:100]}{': ' if described else ''}{described})."
        )
    metadata = server_metadata_of(row)
    if (iss := query.get("iss")) is not None and not issuers_match(iss, str(metadata.issuer)):
        raise OAuthError("The answer came from another authorization server.")
    if not query.get("code"):
        raise OAuthError("The authorization server sent no code.")
    data, headers = client_auth(
        row,
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": begun["redirect_uri"],
            "code_verifier": begun["verifier"],
            "resource": row.resource,
        },
    )
    token = await token_request(row, data=data, headers=headers)
    return await _account_store(user_id=user_id, server=server, token=token)


async def _account_store(*, user_id: int, server: MCPServer, token: OAuthToken) -> OAuthAccount:
    fields = {
        "access_token": token.access_token,
        "refresh_token": token.refresh_token or "",
        "scope": token.scope or "",
        "expires_at": expires_at(token),
    }
    try:
        account, _ = await OAuthAccount.objects.aupdate_or_create(user_id=user_id, server=server, defaults=fields)
    except IntegrityError:  # connected twice at once: the later tokens win
        await OAuthAccount.objects.filter(user_id=user_id, server=server).aupdate(**fields)
        account = await OAuthAccount.objects.aget(user_id=user_id, server=server)
    return account
