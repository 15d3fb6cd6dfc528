"""End-to-end browser tests: a real Daphne server, a real chromium, the demo assistant and its MCP tools.

The servers run as subprocesses on their own SQLite file, so these tests never touch pytest-django's
database. One Daphne serves most tests; a second one on the same database closes every WebSocket after
two seconds (Daphne's own `--websocket_timeout`), so the page must reconnect in the middle of a run.
One chromium is shared by the module; each test gets a fresh, already logged-in context.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.live import REPO_ROOT, Site, Spec, daphnes, site_env, tail

ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME = "alice"
PASSWORD = "alice-password-1"
SERVER_START_TIMEOUT = 90.0
UI_TIMEOUT_MS = 30_000
SOCKET_LIFETIME_SECONDS = 2

CREATE_USER = (
    "from django.contrib.auth import get_user_model; "
    f"get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})"
)

# One Python start-up instead of three: importing the app is most of a manage.py command's time.
PREPARE_DATABASE = f"""
from django.core import management
management.call_command("migrate", interactive=False, verbosity=0)
management.call_command("setup_demo")
{CREATE_USER}
from assistants.models import Assistant
from mcp_servers.models import MCPServer
demo = MCPServer.objects.get(name="demo")
gated = MCPServer.objects.create(
    name="gated", transport=demo.transport, command=demo.command, args=demo.args, cwd=demo.cwd, approval="always"
)
provider = Assistant.objects.get(name="Demo assistant").provider
careful = Assistant.objects.create(name="Careful assistant", provider=provider)
careful.mcp_servers.add(gated)
"""

# Records what happened on the page, for assertions that cannot be made after the fact:
# whether script from a message ever ran, whether live text streamed, whether the page said it reconnects.
PAGE_PROBES = """
window.__xss = [];
window.__sawStreaming = false;
window.__sawReconnecting = false;
new MutationObserver(() => {
  if (document.querySelector(".streaming")?.textContent) window.__sawStreaming = true;
  if (document.querySelector("#timeline[data-connection=reconnecting]")) window.__sawReconnecting = true;
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""


@dataclass(frozen=True)
class DaphneServer:
    url: str
    log: Path
    database: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    var_dir = tmp_path_factory.mktemp("switchboard-var")
    site = Site(var_dir=var_dir, env=site_env(var_dir))
    site.manage("shell", "-c", PREPARE_DATABASE)
    specs = (Spec("daphne"), Spec("daphne-short", args=("--websocket_timeout", str(SOCKET_LIFETIME_SECONDS))))
    with daphnes(site, *specs, start_timeout=SERVER_START_TIMEOUT) as started:
        database = var_dir / "db.sqlite3"
        yield tuple(DaphneServer(url=server.url, log=server.log, database=database) for server in started)


@pytest.fixture(scope="module")
def daphne_server(servers: tuple[DaphneServer, DaphneServer]) -> DaphneServer:
    return servers[0]


@pytest.fixture(scope="module")
def browser(servers: tuple[DaphneServer, DaphneServer]) -> Iterator[tuple[Browser, dict]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            # Log in once; every test's context starts from this session (cookies ignore the port).
            context = browser.new_context(base_url=servers[0].url)
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("#id_username", USERNAME)
            page.fill("#id_password", PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("/")
            storage = context.storage_state()
            context.close()
            yield browser, storage
        finally:
            browser.close()


def _context(browser: tuple[Browser, dict], url: str, **options) -> BrowserContext:
    context = browser[0].new_context(base_url=url, storage_state=browser[1], **options)
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.add_init_script(PAGE_PROBES)
    return context


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: tuple[Browser, dict], daphne_server: DaphneServer) -> Iterator[Page]:
    context = _context(browser, daphne_server.url)
    page = context.new_page()
    yield page
    if getattr(request.node, "failed", False):
        _report_failure(page, daphne_server, request.node.name)
    context.close()


def _report_failure(page: Page, server: DaphneServer, name: str) -> None:
    """Save a screenshot into test-artifacts/ and print the server log's tail; never raise."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / f"failed-{name}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
        sys.stderr.write(f"\nScreenshot: {path}\n")
    except PlaywrightError as error:
        sys.stderr.write(f"\nNo screenshot: {error}\n")
    sys.stderr.write(f"Server log tail:\n{tail(server.log)}\n")


# --- Helpers -----------------------------------------------------------------------------------------------------


def _start_conversation(page: Page, assistant: str = "Demo assistant") -> str:
    page.goto("/")
    option = page.locator("select[name=assistant] option", has_text=assistant).first
    page.select_option("select[name=assistant]", label=option.inner_text().strip())
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url("**/conversations/*/")
    _wait_synced(page)
    return page.url.rstrip("/").rsplit("/", 1)[1]


def _wait_synced(page: Page) -> None:
    """Wait until the socket is open and the page has drawn the server's snapshot."""
    expect(page.locator("#timeline[data-connection=open][data-synced='1']")).to_have_count(1)


def _send(page: Page, text: str) -> None:
    message_input = page.locator("#message-input")
    expect(message_input).to_be_enabled()
    message_input.fill(text)
    message_input.press("Enter")


def _tool_card(page: Page, tool_name: str) -> Locator:
    return page.locator(".tool-card").filter(has=page.locator(".tool-name", has_text=tool_name))


def _expect_completed_tool(page: Page, tool_name: str, output: str) -> None:
    card = _tool_card(page, tool_name)
    expect(card).to_have_count(1)
    expect(card).to_have_class("tool-card tool-completed")
    # The result sits in a <details> that is closed once the call completes: check text, not visibility.
    expect(card.locator("pre.tool-output")).to_have_text(output)


def _expect_answer(page: Page, text: str) -> Locator:
    """The assistant's finished answer, drawn from the server's Markdown (not the live plain text)."""
    answer = page.locator(".message-assistant", has_text=text)
    expect(answer).to_have_count(1)
    expect(answer.locator(".markdown")).to_contain_text(text)
    return answer


def _expect_idle(page: Page) -> None:
    expect(page.locator("#message-input")).to_be_enabled()
    expect(page.locator("#stop")).to_be_hidden()


def _persisted_messages(server: DaphneServer, thread_id: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(server.database) as db:
        return db.execute(
            "SELECT id, role, content FROM chat_message WHERE conversation_id = ? ORDER BY id", (thread_id,)
        ).fetchall()


def _shown_messages(page: Page) -> list[tuple[str, str, str]]:
    return page.eval_on_selector_all(
        "#timeline .message",
        """nodes => nodes.map(n => [
            n.dataset.messageId,
            n.classList.contains('message-user') ? 'user' : 'assistant',
            n.querySelector('.bubble').textContent,
        ])""",
    )


def _plain(markdown: str) -> str:
    """The visible text of a short Markdown answer: code spans lose their backticks."""
    return re.sub(r"`([^`]*)`", r"\1", markdown).strip()


def _screenshot(page: Page, name: str) -> Path:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / f"{name}.png"
    page.screenshot(path=str(path))  # the viewport: a full-page shot misplaces the sticky header
    return path


# --- Tests -------------------------------------------------------------------------------------------------------

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_it_runs_a_tool_live_and_keeps_it_after_reload(page: Page) -> None:
    _start_conversation(page)

    _send(page, "/draw_dash")
    _expect_completed_tool(page, "draw_dash", "~")
    _expect_answer(page, "~")

    page.reload()
    expect(page.locator(".message-user", has_text="/draw_dash")).to_have_count(1)
    _expect_completed_tool(page, "draw_dash", "~")
    _expect_answer(page, "~")


def test_it_streams_an_answer_as_text_then_shows_the_servers_markdown(page: Page) -> None:
    _start_conversation(page)

    _send(page, "say **bold** things")

    answer = _expect_answer(page, "I am the offline model")
    expect(answer.locator(".markdown strong")).to_have_text("bold")
    assert page.evaluate("window.__sawStreaming"), "the answer never appeared as live text"
    expect(page.locator("#chat-title")).to_have_text("say **bold** things")


def test_it_shows_a_tool_card_with_arguments_result_and_duration(page: Page) -> None:
    _start_conversation(page)

    _send(page, '/add {"a": 2, "b": 3}')

    _expect_completed_tool(page, "add", "5")
    card = _tool_card(page, "add")
    expect(card.locator("details")).not_to_have_attribute("open", "")
    expect(card.locator("summary")).to_contain_text("on demo")
    expect(card.locator("summary")).to_contain_text(re.compile(r"\d+ ms"))
    expect(card.locator("pre.tool-args")).to_have_text('{\n  "a": 2,\n  "b": 3\n}')


def test_it_stops_a_running_tool_call_and_offers_a_retry(page: Page) -> None:
    _start_conversation(page)

    _send(page, '/wait {"seconds": 30}')
    card = _tool_card(page, "wait")
    expect(card).to_have_class("tool-card tool-in_progress")
    expect(page.locator("#message-input")).to_be_disabled()
    page.locator("#stop").click()

    expect(page.locator(".run-status.run-cancelled")).to_have_text("Stopped")
    expect(card).to_have_class("tool-card tool-cancelled")
    expect(page.locator("#retry")).to_be_visible()
    _expect_idle(page)


def test_it_regenerates_the_last_answer_and_keeps_the_old_one(page: Page, daphne_server: DaphneServer) -> None:
    thread_id = _start_conversation(page)
    _send(page, "first question")
    first = _expect_answer(page, "first question")
    first_id = first.get_attribute("data-message-id")

    page.get_by_role("button", name="Regenerate answer").click()

    expect(page.locator(f"[data-message-id='{first_id}']")).to_have_count(0)
    _expect_answer(page, "first question")
    _expect_idle(page)
    expect(page.locator(".message-user")).to_have_count(1)
    expect(page.locator(".message-assistant .version-count")).to_have_text("2 / 2")
    # The old answer is kept, as the other version: the arrows go back to it.
    assert [role for _, role, _ in _persisted_messages(daphne_server, thread_id)] == ["user", "assistant", "assistant"]


def test_it_renames_and_deletes_a_conversation(page: Page) -> None:
    _start_conversation(page)
    _send(page, "a conversation to rename")
    _expect_answer(page, "a conversation to rename")

    page.get_by_text("Actions").click()
    page.get_by_role("link", name="Rename", exact=True).click()
    page.get_by_label("Title").fill("Renamed in the browser")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#chat-title")).to_have_text("Renamed in the browser")

    page.get_by_text("Actions").click()
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading")).to_contain_text("Renamed in the browser")
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url("/")
    expect(page.get_by_role("link", name="Renamed in the browser")).to_have_count(0)


def test_it_finds_a_conversation_by_the_text_of_a_message(page: Page) -> None:
    _start_conversation(page)
    _send(page, "hello there")
    _expect_answer(page, "hello there")
    page.get_by_role("button", name="Regenerate answer").wait_for()
    # The word is in the answer only, not in the title.
    page.goto("/")
    page.get_by_role("searchbox").fill("offline model")
    page.get_by_role("button", name="Search").click()

    expect(page.locator(".conversation-list").get_by_role("link", name="hello there").first).to_be_visible()
    page.get_by_role("searchbox").fill("no conversation says this")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No conversation matches")).to_be_visible()


def test_it_asks_before_a_gated_tool_runs_even_after_a_reload(page: Page) -> None:
    _start_conversation(page, "Careful assistant")

    _send(page, "/draw_dash")
    card = _tool_card(page, "draw_dash")
    expect(card.locator(".tool-status")).to_have_text("Waiting for approval")
    expect(page.locator("#run-indicator")).to_have_text("Waiting for your approval…")
    _screenshot(page, "chat-approval")
    page.reload()
    _wait_synced(page)
    card.get_by_role("button", name="Approve").click()

    _expect_completed_tool(page, "draw_dash", "~")
    _expect_answer(page, "~")
    _expect_idle(page)

    _send(page, "/draw_dot")
    _tool_card(page, "draw_dot").get_by_role("button", name="Deny").click()
    expect(_tool_card(page, "draw_dot").get_by_role("button", name="Approve")).to_have_count(0)
    _expect_idle(page)
    expect(_tool_card(page, "draw_dot")).not_to_have_class(re.compile("tool-completed|tool-in_progress"))


def test_it_reconnects_mid_run_and_ends_with_exactly_the_persisted_messages(
    browser: tuple[Browser, dict], servers: tuple[DaphneServer, DaphneServer]
) -> None:
    server = servers[1]  # closes every socket after SOCKET_LIFETIME_SECONDS
    context = _context(browser, server.url)
    page = context.new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    try:
        thread_id = _start_conversation(page)
        _send(page, '/wait {"seconds": 5}')

        _expect_completed_tool(page, "wait", "waited 5 s")
        _expect_answer(page, "waited 5 s")
        _expect_idle(page)
        _wait_synced(page)

        assert len(sockets) >= 2, "the server never closed the socket during the run"
        assert page.evaluate("window.__sawReconnecting"), "the page never said it was reconnecting"
        persisted = _persisted_messages(server, thread_id)
        shown = _shown_messages(page)
        assert [(i, r) for i, r, _ in shown] == [(i, r) for i, r, _ in persisted]
        assert [t.strip() for _, _, t in shown] == [_plain(c) for _, _, c in persisted]
        expect(_tool_card(page, "wait")).to_have_count(1)
    except Exception:
        _report_failure(page, server, "reconnect")
        raise
    finally:
        context.close()


def test_it_shows_the_same_live_stream_in_two_tabs(browser: tuple[Browser, dict], daphne_server: DaphneServer) -> None:
    first, second = _context(browser, daphne_server.url), _context(browser, daphne_server.url)
    try:
        page = first.new_page()
        _start_conversation(page)
        other = second.new_page()
        other.goto(page.url)
        _wait_synced(other)

        _send(page, "/draw_dot")

        for tab in (page, other):
            expect(tab.locator(".message-user", has_text="/draw_dot")).to_have_count(1)
            _expect_completed_tool(tab, "draw_dot", "*")
            _expect_answer(tab, "returned")
            _expect_idle(tab)
        assert other.evaluate("window.__sawStreaming"), "the second tab did not see the answer stream"
        assert _shown_messages(page) == _shown_messages(other)
    finally:
        first.close()
        second.close()


XSS_MESSAGE = "<img src=x onerror=\"window.__xss.push('img')\"><script>window.__xss.push('script')</script>"
# Neither is a number: the tool's validation error quotes both back.
XSS_TOOL = '/add {"a": "<img src=x onerror=__xss.push(1)>", "b": "<script>__xss.push(2)</script>"}'


def test_it_shows_html_from_messages_and_tools_as_text(page: Page) -> None:
    _start_conversation(page)

    _send(page, XSS_MESSAGE)
    _expect_answer(page, "<img src=x")
    _expect_idle(page)
    _send(page, XSS_TOOL)
    card = _tool_card(page, "add")
    expect(card).to_have_class("tool-card tool-failed")
    _expect_idle(page)

    for _ in range(2):  # live, then as the server renders it
        expect(page.locator(".message-user .bubble").first).to_have_text(XSS_MESSAGE)
        expect(card.locator("pre.tool-error")).to_contain_text("<img src=x onerror=__xss.push(1)>")
        expect(card.locator("pre.tool-error")).to_contain_text("<script>__xss.push(2)</script>")
        assert page.locator("#timeline img, #timeline script").count() == 0
        assert page.evaluate("window.__xss") == []
        page.reload()
        _wait_synced(page)


def test_it_fits_a_phone_and_follows_the_dark_colour_scheme(
    browser: tuple[Browser, dict], daphne_server: DaphneServer
) -> None:
    phone = _context(browser, daphne_server.url, viewport={"width": 375, "height": 740}, color_scheme="light")
    dark = _context(browser, daphne_server.url, viewport={"width": 1000, "height": 700}, color_scheme="dark")
    try:
        page = phone.new_page()
        _start_conversation(page)
        _send(page, "Show me code:\n\n```python\nprint('hello')\n```")
        _expect_answer(page, "offline model")
        _send(page, "/draw_dot")
        _expect_completed_tool(page, "draw_dot", "*")
        _expect_idle(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        _screenshot(page, "chat-375px")
        assert width <= 375, f"the page is {width} px wide at a 375 px viewport"
        chat_url = page.url
        page.goto("/")
        width = page.evaluate("document.documentElement.scrollWidth")
        _screenshot(page, "list-375px")
        assert width <= 375, f"the list is {width} px wide at a 375 px viewport"

        night = dark.new_page()
        night.goto(chat_url)
        _wait_synced(night)
        background = night.evaluate("getComputedStyle(document.body).backgroundColor")
        _screenshot(night, "chat-dark")
        assert background == "rgb(18, 21, 27)", background
    finally:
        phone.close()
        dark.close()
