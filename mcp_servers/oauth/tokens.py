"""Using a user's tokens: each request to the server carries them, refreshed shortly before they expire and again
when the server answers 401; only that user's connections send them. Disconnecting revokes them."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import httpx2
from agents.mcp import MCPServer as AgentsMCPServer
from django.utils import timezone

from mcp_servers.models import MCPServer, OAuthAccount
from mcp_servers.oauth.common import (
    OAUTH_TRANSPORTS,
    AuthorizationRequired,
    OAuthError,
    TokenRefused,
    client_auth,
    expires_at,
    http_client,
    server_metadata_of,
    token_request,
    url_checked,
)
from mcp_servers.oauth.discovery import oauth_client_get
from mcp_servers.transports import SseTransport, StreamableHttpTransport

logger = logging.getLogger(__name__)

# A token is refreshed when it has less than this left, so a call never starts with one about to lapse.
REFRESH_MARGIN = timedelta(seconds=60)
# How long a refused refresh looks again for tokens another process may be storing at that moment.
RACE_WAITS = (0.2, 0.5, 1.0)


class AccountGone(Exception):
    """The tokens an open connection used were revoked or can no longer be refreshed."""


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
    data, headers = client_auth(
        row, {"grant_type": "refresh_token", "refresh_token": account.refresh_token, "resource": row.resource}
    )
    try:
        token = await token_request(row, data=data, headers=headers)
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
        "expires_at": expires_at(token),
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
    endpoint = server_metadata_of(row).revocation_endpoint if row is not None else None
    if endpoint is not None:
        async with http_client() as client:
            for token, hint in ((account.refresh_token, "refresh_token"), (account.access_token, "access_token")):
                if not token:
                    continue
                data, headers = client_auth(row, {"token": token, "token_type_hint": hint})
                try:
                    response = await client.post(await url_checked(str(endpoint)), data=data, headers=headers)
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
