"""An MCP client signs in to Switchboard in chromium: the `mcp` SDK's client, given nothing but the `/mcp/` URL,
finds the authorization server, registers, and sends the user to the consent page; the user logs in, allows it,
and the client acts as that user with the token it gets."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from playwright.sync_api import Page, expect

from tests.browser.chromium import chromium_page
from tests.browser.test_chat_browser import ARTIFACTS_DIR
from tests.live import Server, daphne, site_create
from tests.mcp.helpers import data
from tests.mcp.test_oauth_server import MemoryStorage

REDIRECT_URI = "http://127.0.0.1:33419/callback"
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with daphne(site_create(tmp_path_factory.mktemp("mcp-sign-in"))) as live:
        yield live


@pytest.fixture
def page(request: pytest.FixtureRequest, server: Server) -> Iterator[Page]:
    with chromium_page(request, timeout_ms=WAIT_SECONDS * 1000, base_url=server.url) as page:
        yield page


class DesktopClient(threading.Thread):
    """An MCP client on its own thread and loop, as a desktop app is its own process: it hands the page it wants
    the user to open to `links`, waits for the address the browser was sent back to on `returns`, then calls a
    tool with the token it got."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.links: queue.Queue[str] = queue.Queue()
        self.returns: queue.Queue[str] = queue.Queue()
        self.result: Any = None
        self.error: BaseException | None = None
        self.storage = MemoryStorage()

    async def _open(self, url: str) -> None:
        self.links.put(url)

    async def _callback(self) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(await asyncio.to_thread(self.returns.get, True, WAIT_SECONDS)).query)
        if "error" in query:
            raise PermissionError(query["error"][0])
        return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0])

    async def _main(self) -> Any:
        provider = OAuthClientProvider(
            server_url=f"{self.server.url}/mcp/",
            client_metadata=OAuthClientMetadata(client_name="Desk", redirect_uris=[REDIRECT_URI]),
            storage=self.storage,
            redirect_handler=self._open,
            callback_handler=self._callback,
        )
        http = create_mcp_http_client(auth=provider)
        async with http, Client(streamable_http_client(f"{self.server.url}/mcp/", http_client=http)) as client:
            return data(await client.call_tool("list_assistants", {}))

    def run(self) -> None:
        try:
            self.result = asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc


@pytest.mark.timeout(240)
def test_an_mcp_client_signs_in_through_the_browser_and_acts_as_the_user(server: Server, page: Page) -> None:
    client = DesktopClient(server)
    client.start()
    link = client.links.get(timeout=WAIT_SECONDS)
    assert link.startswith(f"{server.url}/")

    # The client's own address is not served here: the browser's arrival there is what the client waits for.
    page.route(f"{REDIRECT_URI}**", lambda route: route.fulfill(status=200, body="Signed in. You may close this."))
    page.goto(link)
    page.fill("#id_username", "alice")  # not logged in yet: the consent page asks for that first
    page.fill("#id_password", "alice-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Allow “Desk” to use Switchboard as you?")).to_be_visible()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "mcp-client-consent-1280px.png"), full_page=True)
    with page.expect_request(f"{REDIRECT_URI}**") as arrived:
        page.get_by_role("button", name="Allow").click()
    client.returns.put(arrived.value.url)
    client.join(WAIT_SECONDS)

    assert client.error is None, repr(client.error)
    assert "Demo assistant" in [assistant["name"] for assistant in client.result["data"]]
    assert client.storage.tokens.access_token.startswith("sbo_")
    # The user sees the application among their sign-ins.
    page.goto("/settings/tokens/")
    expect(page.get_by_text("Desk")).to_be_visible()
