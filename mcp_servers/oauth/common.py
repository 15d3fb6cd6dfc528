"""What every step of an MCP server's sign-in shares: its errors, and requests to the authorization server (each
URL checked against the network policy first, Switchboard authenticated as a client the way the server asks)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx2
from django.urls import reverse
from django.utils import timezone
from mcp.shared.auth import OAuthMetadata, OAuthToken
from pydantic import ValidationError

from core.network import url_refusal_async
from mcp_servers.errors import MCPConnectError
from mcp_servers.models import MCPServer, OAuthClient

OAUTH_TRANSPORTS = (MCPServer.Transport.STREAMABLE_HTTP, MCPServer.Transport.SSE)
HTTP_TIMEOUT = 15.0


class OAuthError(Exception):
    """The sign-in could not go ahead; the message is safe to show the user (it never holds a secret)."""


class AuthorizationRequired(MCPConnectError):
    """The user has not connected their account to an OAuth-protected server, or its tokens no longer work."""

    def __init__(self, server: MCPServer, *, again: bool = False) -> None:
        self.server_id = server.pk
        self.connect_url = oauth_connect_path(server)
        what = "your account's sign-in expired; connect it again" if again else "connect your account first"
        reason = f"needs you to sign in: {what} at {self.connect_url}"
        super().__init__(f"MCP server '{server.name}' {reason}", reason=reason)


class TokenRefused(OAuthError):
    def __init__(self, message: str, *, invalid_grant: bool) -> None:
        super().__init__(f"The authorization server refused: {message}")
        self.invalid_grant = invalid_grant


def oauth_connect_path(server: MCPServer) -> str:
    return reverse("mcp_oauth:connect", args=[server.pk])


def http_client() -> httpx2.AsyncClient:
    # Redirects are not followed: every URL is checked against the network policy before it is fetched.
    return httpx2.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)


async def url_checked(url: str) -> str:
    if refusal := await url_refusal_async(url):
        raise OAuthError(refusal)
    return url


def error_reason(response: httpx2.Response) -> str:
    """The short reason an OAuth endpoint gives for an error (RFC 6749 `error` and `error_description`)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    error = str(body.get("error") or f"HTTP {response.status_code}")[:100]
    description = str(body.get("error_description") or "")[:200]
    return f"{error}: {description}" if description else error


def server_metadata_of(row: OAuthClient) -> OAuthMetadata:
    return OAuthMetadata.model_validate(row.server_metadata)


def _auth_method(row: OAuthClient) -> str:
    """How Switchboard authenticates at the token endpoint: with its secret in the body or in a Basic header."""
    if not row.client_secret:
        return "none"
    supported = server_metadata_of(row).token_endpoint_auth_methods_supported or ["client_secret_basic"]
    return "client_secret_post" if "client_secret_post" in supported else "client_secret_basic"


def client_auth(row: OAuthClient, data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    method = _auth_method(row)
    if method == "client_secret_basic":
        pair = f"{quote(row.client_id, safe='')}:{quote(row.client_secret, safe='')}"
        return {**data, "client_id": row.client_id}, {
            "Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"
        }
    if method == "client_secret_post":
        return {**data, "client_id": row.client_id, "client_secret": row.client_secret}, {}
    return {**data, "client_id": row.client_id}, {}


async def token_request(row: OAuthClient, *, data: dict[str, str], headers: dict[str, str]) -> OAuthToken:
    async with http_client() as client:
        try:
            response = await client.post(
                await url_checked(str(server_metadata_of(row).token_endpoint)), data=data, headers=headers
            )
        except httpx2.HTTPError as exc:
            raise OAuthError(f"The authorization server could not be reached ({type(exc).__name__}).") from None
    if response.status_code != 200:
        raise TokenRefused(
            error_reason(response), invalid_grant=response.status_code == 400 and "invalid_grant" in response.text
        )
    try:
        return OAuthToken.model_validate_json(response.content)
    except ValidationError:
        raise OAuthError("The authorization server's token answer was not valid.") from None


def expires_at(token: OAuthToken) -> datetime | None:
    return timezone.now() + timedelta(seconds=int(token.expires_in)) if token.expires_in is not None else None
