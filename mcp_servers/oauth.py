"""OAuth for remote MCP servers that want each user to sign in (the MCP authorization spec).

A Streamable HTTP or SSE server that answers 401 with a Bearer `WWW-Authenticate` challenge is OAuth-protected.
Discovery reads its protected resource metadata (RFC 9728) and its authorization server's metadata (RFC 8414, or
OpenID Connect discovery); Switchboard registers itself as a client (RFC 7591) unless an administrator entered a
client id. Each user then connects their own account: the authorization code flow with PKCE (S256) and the
`resource` parameter (RFC 8707), the state bound to their session. Their tokens are stored encrypted per (user,
server), refreshed shortly before they expire and again when the server answers 401; only that user's connections
send them. The pieces come from the `mcp` SDK's client auth (metadata models, discovery URLs, PKCE); its
`OAuthClientProvider` runs the whole flow inside one coroutine, which a web app's redirect and callback cannot.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
import weakref
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx2
from agents.mcp import MCPServer as AgentsMCPServer
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone
from mcp.client.auth import OAuthRegistrationError, PKCEParameters
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
from mcp.shared.auth import OAuthClientMetadata, OAuthMetadata, OAuthToken, ProtectedResourceMetadata
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from mcp_types import LATEST_PROTOCOL_VERSION
from pydantic import ValidationError

from core.network import url_refusal_async
from mcp_servers.errors import MCPConnectError
from mcp_servers.models import MCPServer, OAuthAccount, OAuthClient
from mcp_servers.transports import SseTransport, StreamableHttpTransport

logger = logging.getLogger(__name__)

OAUTH_TRANSPORTS = (MCPServer.Transport.STREAMABLE_HTTP, MCPServer.Transport.SSE)
# A token is refreshed when it has less than this left, so a call never starts with one about to lapse.
REFRESH_MARGIN = timedelta(seconds=60)
HTTP_TIMEOUT = 15.0
# Authorizations begun but not finished, kept in the user's session: at most this many, for this long.
PENDING_KEY = "mcp_oauth_pending"
PENDING_MAX = 5
PENDING_SECONDS = 900
GRANT_TYPES = ["authorization_code", "refresh_token"]
# How long a refused refresh looks again for tokens another process may be storing at that moment.
RACE_WAITS = (0.2, 0.5, 1.0)


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


class AccountGone(Exception):
    """The tokens an open connection used were revoked or can no longer be refreshed."""


def oauth_connect_path(server: MCPServer) -> str:
    return reverse("mcp_oauth:connect", args=[server.pk])


def _client() -> httpx2.AsyncClient:
    # Redirects are not followed: every URL is checked against the network policy before it is fetched.
    return httpx2.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)


async def _checked(url: str) -> str:
    if refusal := await url_refusal_async(url):
        raise OAuthError(refusal)
    return url


def _text(response: httpx2.Response) -> str:
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


# --- Discovery ---------------------------------------------------------------------------------------------------


async def oauth_challenge(*, server: MCPServer) -> httpx2.Response | None:
    """Ask the server, without credentials, to start a session: its 401 Bearer challenge, or None."""
    if server.transport not in OAUTH_TRANSPORTS or not server.url:
        return None
    headers = {k: v for k, v in (server.headers or {}).items() if k.lower() != "authorization"}
    async with _client() as client:
        try:
            await _checked(server.url)
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
            response = await client.get(await _checked(url), headers={"MCP-Protocol-Version": LATEST_PROTOCOL_VERSION})
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
    async with _client() as client:
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


def _server_metadata(row: OAuthClient) -> OAuthMetadata:
    return OAuthMetadata.model_validate(row.server_metadata)


def _auth_method(row: OAuthClient) -> str:
    """How Switchboard authenticates at the token endpoint: with its secret in the body or in a Basic header."""
    if not row.client_secret:
        return "none"
    supported = _server_metadata(row).token_endpoint_auth_methods_supported or ["client_secret_basic"]
    return "client_secret_post" if "client_secret_post" in supported else "client_secret_basic"


def _client_auth(row: OAuthClient, data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    method = _auth_method(row)
    if method == "client_secret_basic":
        pair = f"{quote(row.client_id, safe='')}:{quote(row.client_secret, safe='')}"
        return {**data, "client_id": row.client_id}, {
            "Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"
        }
    if method == "client_secret_post":
        return {**data, "client_id": row.client_id, "client_secret": row.client_secret}, {}
    return {**data, "client_id": row.client_id}, {}


async def _registered(row: OAuthClient, *, redirect_uri: str) -> OAuthClient:
    """The client, registered for this redirect URI if an administrator did not enter one."""
    if row.client_id and (not row.registered or row.redirect_uri == redirect_uri):
        return row
    metadata = _server_metadata(row)
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
    async with _client() as client:
        try:
            response = await client.post(await _checked(str(metadata.registration_endpoint)), json=request_body)
            info = await handle_registration_response(response)
            check_registration_usable(info)
        except httpx2.HTTPError as exc:
            raise OAuthError(f"MCP server '{row.server.name}': registering Switchboard failed ({exc}).") from None
        except OAuthRegistrationError:
            raise OAuthError(
                f"MCP server '{row.server.name}': its authorization server refused to register Switchboard "
                f"({_text(response)})."
            ) from None
    row.client_id, row.client_secret = info.client_id, info.client_secret or ""
    row.registered, row.redirect_uri = True, redirect_uri
    await row.asave(update_fields=["client_id", "client_secret", "registered", "redirect_uri"])
    return row


# --- Connecting an account ---------------------------------------------------------------------------------------


async def oauth_authorization_origin(*, server: MCPServer) -> str:
    """The origin of the server's authorization endpoint ("" if it asks for no sign-in), discovering it first if
    need be: the page that starts a sign-in must allow its form to lead there (CSP `form-action`)."""
    row = await oauth_client_get(server=server) or await oauth_discover(server=server)
    if row is None:
        return ""
    endpoint = urlsplit(str(_server_metadata(row).authorization_endpoint))
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
    row = await _registered(row, redirect_uri=redirect_uri)
    metadata = _server_metadata(row)
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
    endpoint = await _checked(str(metadata.authorization_endpoint))
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
    metadata = _server_metadata(row)
    if (iss := query.get("iss")) is not None and not issuers_match(iss, str(metadata.issuer)):
        raise OAuthError("The answer came from another authorization server.")
    if not query.get("code"):
        raise OAuthError("The authorization server sent no code.")
    data, headers = _client_auth(
        row,
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": begun["redirect_uri"],
            "code_verifier": begun["verifier"],
            "resource": row.resource,
        },
    )
    token = await _token_request(row, data=data, headers=headers)
    return await _account_store(user_id=user_id, server=server, token=token)


async def _token_request(row: OAuthClient, *, data: dict[str, str], headers: dict[str, str]) -> OAuthToken:
    async with _client() as client:
        try:
            response = await client.post(
                await _checked(str(_server_metadata(row).token_endpoint)), data=data, headers=headers
            )
        except httpx2.HTTPError as exc:
            raise OAuthError(f"The authorization server could not be reached ({type(exc).__name__}).") from None
    if response.status_code != 200:
        raise TokenRefused(
            _text(response), invalid_grant=response.status_code == 400 and "invalid_grant" in response.text
        )
    try:
        return OAuthToken.model_validate_json(response.content)
    except ValidationError:
        raise OAuthError("The authorization server's token answer was not valid.") from None


class TokenRefused(OAuthError):
    def __init__(self, message: str, *, invalid_grant: bool) -> None:
        super().__init__(f"The authorization server refused: {message}")
        self.invalid_grant = invalid_grant


def _expires_at(token: OAuthToken) -> datetime | None:
    return timezone.now() + timedelta(seconds=int(token.expires_in)) if token.expires_in is not None else None


async def _account_store(*, user_id: int, server: MCPServer, token: OAuthToken) -> OAuthAccount:
    fields = {
        "access_token": token.access_token,
        "refresh_token": token.refresh_token or "",
        "scope": token.scope or "",
        "expires_at": _expires_at(token),
    }
    try:
        account, _ = await OAuthAccount.objects.aupdate_or_create(user_id=user_id, server=server, defaults=fields)
    except IntegrityError:  # connected twice at once: the later tokens win
        await OAuthAccount.objects.filter(user_id=user_id, server=server).aupdate(**fields)
        account = await OAuthAccount.objects.aget(user_id=user_id, server=server)
    return account


# --- Using and refreshing tokens ---------------------------------------------------------------------------------

# One refresh at a time per account in this process (each event loop has its own locks).
_refreshing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = weakref.WeakKeyDictionary()


async def oauth_access_token(*, account_id: int, stale: str = "") -> str:
    """A usable access token of this account: the stored one, or a refreshed one if it is about to expire or the
    server refused it (`stale`)."""
    locks = _refreshing.setdefault(asyncio.get_running_loop(), {})
    lock = locks.setdefault(account_id, asyncio.Lock())
    async with lock:
        account = await OAuthAccount.objects.select_related("server").filter(pk=account_id).afirst()
        if account is None:
            raise AccountGone("The account was disconnected.")
        fresh = account.expires_at is None or account.expires_at - timezone.now() > REFRESH_MARGIN
        if account.access_token != stale and fresh:
            return account.access_token
        return (await oauth_account_refresh(account)).access_token


async def oauth_account_refresh(account: OAuthAccount) -> OAuthAccount:
    """Swap the account's refresh token for new tokens and store them (`account.server` loaded)."""
    row = await oauth_client_get(server=account.server)
    if row is None or not account.refresh_token:
        raise AccountGone("The account's tokens cannot be refreshed.")
    data, headers = _client_auth(
        row, {"grant_type": "refresh_token", "refresh_token": account.refresh_token, "resource": row.resource}
    )
    try:
        token = await _token_request(row, data=data, headers=headers)
    except TokenRefused as exc:
        # Another process may have refreshed it first (a refresh token often works once) and be storing what it
        # got: use its tokens. Only a grant refused for good, with nobody else's tokens in sight, is dropped.
        latest = await OAuthAccount.objects.filter(pk=account.pk).afirst()
        for wait in RACE_WAITS if exc.invalid_grant else ():
            if latest is None or latest.refresh_token != account.refresh_token:
                break
            await asyncio.sleep(wait)
            latest = await OAuthAccount.objects.filter(pk=account.pk).afirst()
        if latest is not None and latest.refresh_token != account.refresh_token:
            return latest
        if exc.invalid_grant and latest is not None:
            await latest.adelete()  # by its row: encrypted columns cannot be compared in a query
        raise AccountGone(str(exc)) from None
    fields = {
        "access_token": token.access_token,
        # A refresh answer may leave out the refresh token, which then stays the same (RFC 6749 section 6).
        "refresh_token": token.refresh_token or account.refresh_token,
        "scope": token.scope or account.scope,
        "expires_at": _expires_at(token),
    }
    await OAuthAccount.objects.filter(pk=account.pk).aupdate(**fields, updated_at=timezone.now())
    for name, value in fields.items():
        setattr(account, name, value)
    return account


class AccountAuth(httpx2.Auth):
    """Sends one user's access token with each request to a server, refreshing it when needed.

    A token that cannot be renewed is not an exception here (the transport would take it for a dropped
    connection): the request goes without it, the server's 401 fails that one call, and the account is gone, so
    the user's next run asks them to connect again.
    """

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    async def _token(self, *, stale: str = "") -> str:
        try:
            return await oauth_access_token(account_id=self.account_id, stale=stale)
        except (AccountGone, OAuthError) as exc:
            logger.info("An MCP server sign-in could not be renewed: %s", exc)
            return ""

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self._token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and token:
            await response.aread()
            if fresh := await self._token(stale=token):
                request.headers["Authorization"] = f"Bearer {fresh}"
                yield request


async def oauth_account_for(*, server: MCPServer, user_id: int) -> OAuthAccount | None:
    return await OAuthAccount.objects.filter(server=server, user_id=user_id).afirst()


# --- Revoking ----------------------------------------------------------------------------------------------------


async def oauth_account_revoke(*, user_id: int, account_id: int) -> MCPServer:
    """Forget the user's tokens for a server, asking its authorization server to revoke them first if it can.
    Another user's account is not found (OAuthAccount.DoesNotExist)."""
    account = await OAuthAccount.objects.select_related("server").aget(pk=account_id, user_id=user_id)
    row = await oauth_client_get(server=account.server)
    endpoint = _server_metadata(row).revocation_endpoint if row is not None else None
    if endpoint is not None:
        async with _client() as client:
            for token, hint in ((account.refresh_token, "refresh_token"), (account.access_token, "access_token")):
                if not token:
                    continue
                data, headers = _client_auth(row, {"token": token, "token_type_hint": hint})
                try:
                    response = await client.post(await _checked(str(endpoint)), data=data, headers=headers)
                except (httpx2.HTTPError, OAuthError) as exc:
                    # The tokens are forgotten here all the same; they lapse at the server in time.
                    logger.warning("Revoking a token at %s failed: %s", account.server.name, type(exc).__name__)
                    continue
                if response.status_code != 200:
                    logger.warning("Revoking a token at %s failed: HTTP %s", account.server.name, response.status_code)
    await account.adelete()
    return account.server


# --- Transports that send a user's token -------------------------------------------------------------------------


class SignedIn:
    """A transport that sends the user's own token (`params["oauth_account"]`) with each request."""

    @classmethod
    def create(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        server = super().create(name=name, params=params, options=options)
        server.params["auth"] = AccountAuth(params["oauth_account"])
        return server


class OAuthStreamableHttpTransport(SignedIn, StreamableHttpTransport):
    kind = "streamable_http_oauth"


class OAuthSseTransport(SignedIn, SseTransport):
    kind = "sse_oauth"


async def oauth_launch_params(*, server: MCPServer, params: dict[str, Any], user_id: int) -> dict[str, Any] | None:
    """Launch params that connect as this user, for a server that wants each user to sign in (None for any other
    server). Raises AuthorizationRequired if the user has not connected their account."""
    if server.transport not in OAUTH_TRANSPORTS or await oauth_client_get(server=server) is None:
        return None
    account = await oauth_account_for(server=server, user_id=user_id)
    if account is None:
        raise AuthorizationRequired(server)
    # The account's id, not its token: a refreshed token must not look like a changed configuration to the pool.
    kind = "sse_oauth" if server.transport == MCPServer.Transport.SSE else "streamable_http_oauth"
    headers = {k: v for k, v in params["headers"].items() if k.lower() != "authorization"}
    return {**params, "transport": kind, "headers": headers, "oauth_account": account.pk}
