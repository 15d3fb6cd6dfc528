"""Switchboard as the OAuth authorization server of its own `/mcp/`: the `mcp` SDK's client signs in from
nothing but the URL (discovery, registration, consent, PKCE, refresh), and the user sees and revokes it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from mcp_servers.websocket import websocket_client
from tests.live import Server, Site
from tests.mcp.helpers import data

REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]


class Browser:
    """The user's browser, signed in to the live site: it follows the client's authorization link and answers."""

    def __init__(self, server: Server, user: str, decision: str = "allow") -> None:
        self.http = httpx2.AsyncClient(base_url=server.url, follow_redirects=False, timeout=30)
        self.user = user
        self.decision = decision
        self.redirected_to: str | None = None
        self.consent_page = ""

    async def sign_in(self) -> None:
        page = await self.http.get("/accounts/login/")
        answer = await self.http.post(
            "/accounts/login/",
            data={
                "username": self.user,
                "password": f"{self.user}-password-1",
                "csrfmiddlewaretoken": _csrf(page.text),
            },
            headers={"Referer": f"{self.http.base_url}/accounts/login/"},
        )
        assert answer.status_code == 302, answer.text[:500]

    async def open(self, url: str) -> None:
        consent = await self.http.get(url)
        assert consent.status_code == 200, consent.text[:500]
        self.consent_page = consent.text
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text))
        fields = {name: value.replace("&amp;", "&") for name, value in fields.items()}
        answer = await self.http.post(
            url, data={**fields, "decision": self.decision}, headers={"Referer": url, "Origin": str(self.http.base_url)}
        )
        assert answer.status_code == 302, answer.text[:500]
        self.redirected_to = answer.headers["location"]

    async def callback(self) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(self.redirected_to).query)
        if "error" in query:
            raise PermissionError(query["error"][0])
        return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0])


def _provider(server: Server, browser: Browser, storage: MemoryStorage) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=f"{server.url}/mcp/",
        client_metadata=OAuthClientMetadata(client_name="Desk", redirect_uris=[REDIRECT_URI]),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )


async def _session(server: Server, provider: OAuthClientProvider) -> Any:
    http = create_mcp_http_client(auth=provider)
    return http, Client(streamable_http_client(f"{server.url}/mcp/", http_client=http), mode="legacy")


async def test_an_mcp_client_signs_in_and_acts_as_the_user_who_allowed_it(site: Site, daphne_server: Server):
    browser = Browser(daphne_server, "alice")
    await browser.sign_in()
    storage = MemoryStorage()
    http, client = await _session(daphne_server, _provider(daphne_server, browser, storage))
    async with http, client:
        thread = data(await client.call_tool("create_thread", {}))
    assert "Allow “Desk” to use Switchboard as you?" in browser.consent_page
    assert storage.tokens.access_token.startswith("sbo_") and storage.tokens.refresh_token.startswith("sbr_")
    # The same access token opens the WebSocket endpoint as alice.
    ws_url = daphne_server.url.replace("http://", "ws://") + "/mcp/ws"
    headers = {"Authorization": f"Bearer {storage.tokens.access_token}"}
    async with websocket_client(ws_url, headers=headers) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert data(await session.call_tool("get_thread", {"thread_id": thread["id"]}))["id"] == thread["id"]
    # The token is alice's: bob's personal token cannot see the thread it made.
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {site.tokens['bob']}"}) as bob_http,
        Client(streamable_http_client(f"{daphne_server.url}/mcp/", http_client=bob_http)) as bob,
    ):
        assert (await bob.call_tool("get_thread", {"thread_id": thread["id"]})).is_error
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {site.tokens['alice']}"}) as alice_http,
        Client(streamable_http_client(f"{daphne_server.url}/mcp/", http_client=alice_http)) as alice,
    ):
        assert data(await alice.call_tool("get_thread", {"thread_id": thread["id"]}))["id"] == thread["id"]


async def test_a_client_refreshes_and_a_revoked_sign_in_ends(site: Site, daphne_server: Server):
    browser = Browser(daphne_server, "alice")
    await browser.sign_in()
    storage = MemoryStorage()
    http, client = await _session(daphne_server, _provider(daphne_server, browser, storage))
    async with http, client:
        await client.list_tools()
    first = storage.tokens
    # Refresh: new tokens, and the old access token stops working.
    async with httpx2.AsyncClient(base_url=daphne_server.url) as plain:
        refreshed = await plain.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token,
                "client_id": storage.client.client_id,
            },
        )
        assert refreshed.status_code == 200, refreshed.text
        tokens = refreshed.json()
        assert await _status(plain, first.access_token) == 401
        assert await _status(plain, tokens["access_token"]) == 200
        # The user signs the client out on the tokens page: its tokens end at once.
        page = await browser.http.get("/settings/tokens/")
        assert "Desk" in page.text
        revoke = re.search(r'href="(/settings/tokens/oauth/\d+/revoke)"', page.text)[1]
        confirm = await browser.http.get(revoke)
        answer = await browser.http.post(
            revoke,
            data={"csrfmiddlewaretoken": _csrf(confirm.text)},
            headers={"Referer": f"{daphne_server.url}{revoke}"},
        )
        assert answer.status_code == 302
        assert await _status(plain, tokens["access_token"]) == 401
        again = await plain.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": storage.client.client_id,
            },
        )
        assert again.json()["error"] == "invalid_grant"


async def test_a_client_the_user_denied_gets_no_token(site: Site, daphne_server: Server):
    browser = Browser(daphne_server, "alice", decision="deny")
    await browser.sign_in()
    storage = MemoryStorage()
    http, client = await _session(daphne_server, _provider(daphne_server, browser, storage))
    with pytest.raises(BaseException) as refused:
        async with http, client:
            pass
    assert "access_denied" in repr(refused.value) or storage.tokens is None
    assert storage.tokens is None


async def _status(http: httpx2.AsyncClient, token: str) -> int:
    response = await http.post(
        "/mcp/",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
    )
    return response.status_code


def test_it_tells_a_client_without_a_token_where_to_sign_in(daphne_server: Server):
    response = httpx2.post(
        f"{daphne_server.url}/mcp/",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    metadata_url = re.search(r'resource_metadata="([^"]+)"', challenge)[1]
    assert metadata_url == f"{daphne_server.url}/.well-known/oauth-protected-resource/mcp"
    metadata = httpx2.get(metadata_url).json()
    assert metadata["resource"] == f"{daphne_server.url}/mcp/"
    server = httpx2.get(f"{metadata['authorization_servers'][0]}/.well-known/oauth-authorization-server").json()
    assert server["code_challenge_methods_supported"] == ["S256"]
