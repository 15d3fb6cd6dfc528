"""Finding out whether and how a server wants each user to sign in, and registering Switchboard as its client.

Discovery reads the server's protected resource metadata (RFC 9728) and its authorization server's metadata (RFC
8414, or OpenID Connect discovery); registration is dynamic (RFC 7591) unless an administrator entered a client id.
"""

from __future__ import annotations

from typing import Any

import httpx2
from django.utils import timezone
from mcp.client.auth import OAuthRegistrationError
from mcp.client.auth.oauth2 import check_registration_usable
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    get_client_metadata_scopes,
    handle_registration_response,
    issuers_match,
)
from mcp.shared.auth import OAuthClientMetadata, OAuthMetadata, ProtectedResourceMetadata
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from mcp_types import LATEST_PROTOCOL_VERSION
from pydantic import ValidationError

from mcp_servers.models import MCPServer, OAuthClient
from mcp_servers.oauth.common import (
    OAUTH_TRANSPORTS,
    OAuthError,
    error_reason,
    http_client,
    server_metadata_of,
    url_checked,
)

GRANT_TYPES = ["authorization_code", "refresh_token"]


async def oauth_challenge(*, server: MCPServer) -> httpx2.Response | None:
    """Ask the server, without credentials, to start a session: its 401 Bearer challenge, or None."""
    if server.transport not in OAUTH_TRANSPORTS or not server.url:
        return None
    headers = {k: v for k, v in (server.headers or {}).items() if k.lower() != "authorization"}
    async with http_client() as client:
        try:
            await url_checked(server.url)
            if server.transport == MCPServer.Transport.SSE:
                request = client.build_request("GET", server.url, headers={**headers, "Accept": "text/event-stream"})
            else:
                initialize = {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": LATEST_PROTOCOL_VERSION,
                        "capabilities": {},
                        "clientInfo": {"name": "switchboard", "version": "1"},
                    },
                }
                request = client.build_request(
                    "POST",
                    server.url,
                    json=initialize,
                    headers={**headers, "Accept": "application/json, text/event-stream"},
                )
            response = await client.send(request, stream=True)
            await response.aclose()
        except (httpx2.HTTPError, OAuthError):
            return None
    if response.status_code != 401:
        return None
    if not response.headers.get("WWW-Authenticate", "").lower().startswith("bearer"):
        return None
    return response


async def _metadata(client: httpx2.AsyncClient, urls: list[str], model: type[Any]) -> Any:
    """The metadata the first of these URLs serves validly (None if none does)."""
    for url in urls:
        try:
            response = await client.get(
                await url_checked(url), headers={"MCP-Protocol-Version": LATEST_PROTOCOL_VERSION}
            )
        except httpx2.HTTPError:
            continue
        if response.status_code == 200:
            try:
                return model.model_validate_json(response.content)
            except ValidationError:
                continue
        elif response.status_code >= 500:
            break
    return None


async def oauth_discover(*, server: MCPServer) -> OAuthClient | None:
    """Find out whether a server wants each user to sign in and how; store it. None if it does not."""
    challenge = await oauth_challenge(server=server)
    if challenge is None:
        return None
    async with http_client() as client:
        resource_metadata = await _metadata(
            client,
            build_protected_resource_metadata_discovery_urls(
                extract_resource_metadata_from_www_auth(challenge), server.url
            ),
            ProtectedResourceMetadata,
        )
        issuer = str(resource_metadata.authorization_servers[0]) if resource_metadata else None
        server_metadata = await _metadata(
            client, build_oauth_authorization_server_metadata_discovery_urls(issuer, server.url), OAuthMetadata
        )
    if server_metadata is None:
        raise OAuthError(f"MCP server '{server.name}' asks for sign-in, but its authorization server was not found.")
    if issuer is not None and not issuers_match(str(server_metadata.issuer), issuer):
        raise OAuthError(f"MCP server '{server.name}': its authorization server names another issuer.")
    if "S256" not in (server_metadata.code_challenge_methods_supported or []):
        raise OAuthError(f"MCP server '{server.name}': its authorization server does not offer PKCE (S256).")
    resource = resource_url_from_server_url(server.url)
    if resource_metadata is not None:
        if not check_resource_allowed(requested_resource=resource, configured_resource=str(resource_metadata.resource)):
            raise OAuthError(f"MCP server '{server.name}': its metadata describes another resource.")
        resource = str(resource_metadata.resource)
    scope = get_client_metadata_scopes(
        extract_scope_from_www_auth(challenge), resource_metadata, server_metadata, GRANT_TYPES
    )
    row, _ = await OAuthClient.objects.aget_or_create(server=server)
    if row.registered and row.issuer and not issuers_match(row.issuer, str(server_metadata.issuer)):
        # Credentials registered with another authorization server are no use at this one.
        row.client_id, row.client_secret, row.registered, row.redirect_uri = "", "", False, ""
    row.resource = resource
    row.resource_metadata = resource_metadata.model_dump(mode="json", exclude_none=True) if resource_metadata else {}
    row.issuer = str(server_metadata.issuer)
    row.server_metadata = server_metadata.model_dump(mode="json", exclude_none=True)
    row.scope = scope or ""
    row.discovered_at = timezone.now()
    await row.asave()
    return row


async def oauth_client_get(*, server: MCPServer) -> OAuthClient | None:
    """The server's OAuth client if the server is known to want each user to sign in."""
    row = await OAuthClient.objects.filter(server=server).afirst()
    if row is None or not row.protected:
        return None
    if not check_resource_allowed(
        requested_resource=resource_url_from_server_url(server.url), configured_resource=row.resource
    ):
        return None  # the server moved since: its next 401 finds out afresh
    return row


async def oauth_client_register(row: OAuthClient, *, redirect_uri: str) -> OAuthClient:
    """The client, registered for this redirect URI if an administrator did not enter one."""
    if row.client_id and (not row.registered or row.redirect_uri == redirect_uri):
        return row
    metadata = server_metadata_of(row)
    if metadata.registration_endpoint is None:
        raise OAuthError(
            f"MCP server '{row.server.name}': its authorization server does not register clients; an administrator "
            "must enter Switchboard's client id for it."
        )
    supported = metadata.token_endpoint_auth_methods_supported or ["client_secret_basic"]
    method = next((m for m in ("client_secret_post", "client_secret_basic") if m in supported), "none")
    request_body = OAuthClientMetadata(
        redirect_uris=[redirect_uri],
        client_name="Switchboard",
        grant_types=GRANT_TYPES,
        response_types=["code"],
        token_endpoint_auth_method=method,
        scope=row.scope or None,
        application_type="web",
    ).model_dump(by_alias=True, mode="json", exclude_none=True)
    async with http_client() as client:
        try:
            response = await client.post(await url_checked(str(metadata.registration_endpoint)), json=request_body)
            info = await handle_registration_response(response)
            check_registration_usable(info)
        except httpx2.HTTPError as exc:
            raise OAuthError(f"MCP server '{row.server.name}': registering Switchboard failed ({exc}).") from None
        except OAuthRegistrationError:
            raise OAuthError(
                f"MCP server '{row.server.name}': its authorization server refused to register Switchboard "
                f"({error_reason(response)})."
            ) from None
    row.client_id, row.client_secret = info.client_id, info.client_secret or ""
    row.registered, row.redirect_uri = True, redirect_uri
    await row.asave(update_fields=["client_id", "client_secret", "registered", "redirect_uri"])
    return row
