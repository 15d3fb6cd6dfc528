"""Connecting an OAuth-protected MCP server in chromium: a run that needs it warns with a link, the link leads
through the server's own authorization server (tests/fakes/oauth_mcp_server.py on loopback) and back, the next
run calls its tool as the user, and Revoke on the account page asks first and then disconnects it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest
from playwright.sync_api import Page, expect

from tests.browser.chromium import chromium_page
from tests.browser.test_chat_browser import ARTIFACTS_DIR
from tests.live import REPO_ROOT, Server, _free_port, daphne, site_create
from tests.mcp_servers.conftest import serve

UI_TIMEOUT_MS = 30_000
PROTECTED_ASSISTANT = """
from assistants.models import Assistant, Provider
from mcp_servers.models import MCPServer
server = MCPServer.objects.create(name="oauth-demo", transport="streamable_http", url=%r, everyone=True)
assistant = Assistant.objects.create(name="Signed-in assistant", provider=Provider.objects.get(name="Offline"))
assistant.mcp_servers.add(server)
"""


@dataclass
class World:
    app: Server
    oauth_url: str


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    port = _free_port()
    oauth_url = f"http://127.0.0.1:{port}/mcp"
    argv = [sys.executable, str(REPO_ROOT / "tests" / "fakes" / "oauth_mcp_server.py"), "--port", str(port)]
    for _ in serve(argv, port=port):
        site = site_create(tmp_path_factory.mktemp("oauth"))
        site.manage("shell", "-c", PROTECTED_ASSISTANT % oauth_url)
        with daphne(site) as app:
            yield World(app=app, oauth_url=oauth_url)


@pytest.fixture
def page(request, world: World) -> Iterator[Page]:
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with chromium_page(request, timeout_ms=UI_TIMEOUT_MS, base_url=world.app.url) as page:
        yield page


def _ask_whoami(page: Page) -> None:
    expect(page.locator("#timeline[data-connection=open][data-synced='1']")).to_have_count(1)
    box = page.locator("#message-input")
    expect(box).to_be_enabled()
    box.fill("/whoami {}")
    box.press("Enter")


@pytest.mark.timeout(240)
def test_a_user_connects_a_protected_server_from_the_chat_and_revokes_it(world: World, page: Page) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("/")

    page.select_option("select[name=assistant]", label="Signed-in assistant")
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url("**/conversations/*/")
    chat_url = page.url
    _ask_whoami(page)
    warning = page.locator(".answer-warning").last
    expect(warning).to_contain_text("oauth-demo (needs you to sign in")

    warning.get_by_role("link").click()
    page.get_by_role("button", name="Connect oauth-demo").click()
    # Off to the authorization server (it approves at once) and back to the conversation the link was on.
    page.wait_for_url(chat_url)
    expect(page.locator(".flash")).to_contain_text("Connected your account to oauth-demo")
    _ask_whoami(page)
    subject = httpx2.get(world.oauth_url.replace("/mcp", "/_state")).json()["grants"][-1]["subject"]
    expect(page.locator(".message-assistant").last).to_contain_text(f"You are {subject}.")

    page.goto("/mcp-servers/oauth/")
    expect(page.locator("body")).to_contain_text("Connected since")
    page.screenshot(path=str(ARTIFACTS_DIR / "oauth-connected-1280px.png"), full_page=True)
    page.goto("/settings/")
    page.locator("#mcp-accounts").get_by_role("link", name="Revoke…").click()
    expect(page.locator("h1")).to_contain_text("Disconnect oauth-demo?")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("body")).to_contain_text("Disconnected oauth-demo")
    expect(page.locator("body")).to_contain_text("Not connected")
    assert httpx2.get(world.oauth_url.replace("/mcp", "/_state")).json()["revoked"] >= 1
