"""The settings pages in a real chromium at phone width: a real Daphne on its own SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.live import REPO_ROOT, Site, daphne, site_create

ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}

# Tokens with long names and every state the table shows: used, expiring, revoked.
TOKENS = """
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from core.tokens import token_create, token_revoke
alice = get_user_model().objects.get(username="alice")
used, _ = token_create(user=alice, name="nightly-backup-script-on-the-build-server", expires_in_days=30)
used.last_used_at = timezone.now() - timedelta(hours=3)
used.save()
old, _ = token_create(user=alice, name="an-old-laptop-token-nobody-uses-any-more")
token_revoke(user=alice, token_id=old.pk)
get_user_model().objects.create_superuser("root", password="root-password-1")
import sys
from assistants.models import Assistant
from mcp_servers.models import MCPServer
demo = MCPServer.objects.get(name="demo")
exits = MCPServer.objects.create(name="exits", command=sys.executable, args=["-c", "raise SystemExit(3)"], cwd=demo.cwd)
offline = Assistant.objects.get(name="Demo assistant").provider
patchy = Assistant.objects.create(name="Patchy assistant", owner=alice, provider=offline)
patchy.mcp_servers.add(demo, exits)
MCPServer.objects.create(
    name="team-knowledge-base", transport="streamable_http", url="https://knowledge.example.com/mcp",
    last_status="error", last_error="Could not reach the server (knowledge.example.com:443).",
    last_checked_at=timezone.now(), last_latency_ms=1234.5,
)
"""

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site: Site = site_create(tmp_path_factory.mktemp("switchboard-pages"), users=("alice",))
    site.manage("shell", "-c", TOKENS)
    with daphne(site) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def _signed_in(browser: Browser, site_url: str, *, viewport: dict, login: str, username: str) -> Iterator[Page]:
    """A fresh context of `username` at this viewport, logged in through the `login` page."""
    context = browser.new_context(base_url=site_url, viewport=viewport)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(login)
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser, site_url: str) -> Iterator[Page]:
    with _signed_in(browser, site_url, viewport=PHONE, login="/accounts/login/", username="alice") as page:
        page.wait_for_url("/")
        yield page


@pytest.fixture
def admin_page(browser: Browser, site_url: str) -> Iterator[Page]:
    with _signed_in(browser, site_url, viewport=DESKTOP, login="/admin/login/", username="root") as page:
        page.wait_for_url("/admin/")
        yield page


def _width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / f"{name}.png"), full_page=True)


def test_it_fits_the_tokens_table_into_a_phone(phone: Page) -> None:
    phone.goto("/settings/tokens/")
    expect(phone.locator("table.tokens tbody tr")).to_have_count(3)
    _screenshot(phone, "tokens-375px")
    assert _width(phone) <= PHONE["width"], f"the tokens page is {_width(phone)} px wide at 375 px"
    # Each cell still says what it is, with the column heads out of sight.
    expect(phone.locator("table.tokens tbody tr").first.locator("td[data-label=Expires]")).to_be_visible()


def test_it_fits_the_account_page_into_a_phone(phone: Page) -> None:
    phone.goto("/settings/")
    _screenshot(phone, "account-375px")
    assert _width(phone) <= PHONE["width"], f"the account page is {_width(phone)} px wide at 375 px"


def test_it_asks_before_revoking_and_shows_a_new_token_once(phone: Page) -> None:
    phone.goto("/settings/tokens/")
    phone.fill("#id_name", "phone test")
    phone.get_by_role("button", name="Create token").click()
    value = phone.locator("#new-token").input_value()
    assert value.startswith("sb_")
    assert _width(phone) <= PHONE["width"]
    phone.reload()
    expect(phone.locator("#new-token")).to_have_count(0)
    expect(phone.locator("table.tokens tbody tr")).to_have_count(4)
    phone.locator("tr", has_text="phone test").get_by_role("link", name="Revoke…").click()
    expect(phone.get_by_role("heading", name="Revoke the token “phone test”?")).to_be_visible()
    _screenshot(phone, "token-revoke-confirm-375px")
    assert _width(phone) <= PHONE["width"]
    phone.get_by_role("button", name="Revoke").click()
    expect(phone.locator(".flash")).to_contain_text("Revoked phone test.")
    expect(phone.locator("tr", has_text="phone test")).to_contain_text("revoked")


def test_it_shows_every_column_of_the_mcp_server_list_at_1280_px(admin_page: Page) -> None:
    admin_page.goto("/admin/mcp_servers/mcpserver/")
    expect(admin_page.locator("#result_list tbody tr")).to_have_count(3)
    _screenshot(admin_page, "admin-mcp-servers-1280px")
    results = admin_page.locator("#changelist .results")
    scroll, client = results.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert scroll <= client, f"the list is {scroll} px wide in a {client} px box: its last columns are cut off"
    last = admin_page.locator("#result_list thead th").last.bounding_box()
    assert last["x"] + last["width"] <= DESKTOP["width"]


def test_it_brands_the_admin_and_names_its_parts_plainly(admin_page: Page) -> None:
    expect(admin_page.locator("#site-name")).to_have_text("Switchboard administration")
    assert admin_page.title().endswith("Switchboard administration")
    admin_page.goto("/admin/mcp_servers/mcpserver/")
    expect(admin_page.get_by_role("link", name="Import MCP servers (JSON)")).to_be_visible()
    crumbs = admin_page.locator(".breadcrumbs").inner_text()
    assert crumbs.count("MCP servers") == 1, crumbs
    admin_page.goto("/admin/assistants/provider/add/")
    expect(admin_page.locator("label[for=id_api_style]")).to_have_text("API style:")
    expect(admin_page.locator("label[for=id_base_url]")).to_have_text("Base URL:")
    expect(admin_page.locator("#id_kind")).to_have_value("openai_compatible")
    _screenshot(admin_page, "admin-provider-add-1280px")
    icon = admin_page.request.get("/favicon.ico")
    assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml")


def test_it_shows_the_mcp_servers_page_tidily(admin_page: Page) -> None:
    admin_page.goto("/mcp-servers/")
    demo = admin_page.locator("section.server-card", has=admin_page.get_by_role("heading", name="demo"))
    demo.get_by_role("button", name="Check now").click()
    demo = admin_page.locator("section.server-card", has=admin_page.get_by_role("heading", name="demo"))
    expect(demo.locator(".server-tool")).to_have_count(10)
    _screenshot(admin_page, "mcp-servers-1280px")
    assert demo.locator(".server-tools").evaluate("e => getComputedStyle(e).listStyleType") == "none"
    summary = demo.locator(".server-tool-schema > summary").first
    assert summary.evaluate("e => getComputedStyle(e).display") != "list-item"  # no disclosure triangle
    # Markdown in descriptions is rendered, not shown with its backticks.
    expect(demo.locator(".server-tool-description code", has_text="bonus").first).to_be_visible()
    assert "`" not in demo.locator(".server-tools").inner_text()
    assert "`" not in demo.locator(".server-description").inner_text()
    admin_page.set_viewport_size(PHONE)
    _screenshot(admin_page, "mcp-servers-375px")
    assert _width(admin_page) <= PHONE["width"], f"the MCP servers page is {_width(admin_page)} px wide at 375 px"


def test_it_answers_with_a_warning_when_an_mcp_server_is_down(phone: Page) -> None:
    phone.goto("/")
    option = phone.locator("select[name=assistant] option", has_text="Patchy assistant").first
    phone.select_option("select[name=assistant]", label=option.inner_text().strip())
    phone.get_by_role("button", name="New conversation").click()
    phone.wait_for_url("**/conversations/*/")
    message = phone.locator("#message-input")
    expect(message).to_be_enabled()
    message.fill('/add {"a": 2, "b": 3}')
    message.press("Enter")
    answer = phone.locator(".message-assistant").last
    expect(answer.locator(".answer-warning")).to_contain_text("exits (could not be started")
    expect(phone.locator(".tool-card.tool-completed")).to_have_count(1)  # the demo server's tool still ran
    _screenshot(phone, "answer-warning-375px")
    phone.reload()
    expect(phone.locator(".message-assistant .answer-warning")).to_contain_text("exits")
