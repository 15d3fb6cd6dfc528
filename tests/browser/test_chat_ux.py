"""The chat page's details in a real chromium: who wrote each answer and what it took, Copy, coloured code,
the pace of the offline model's stream. One Daphne, the same demo data and login as test_chat_browser.py."""

# ruff: noqa: F811 - the fixtures come from test_chat_browser.py; tests name them as parameters

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.test_chat_browser import (
    PREPARE_DATABASE,
    SERVER_START_TIMEOUT,
    DaphneServer,
    _context,
    _expect_answer,
    _expect_idle,
    _screenshot,
    _send,
    _start_conversation,
    _tool_card,
    _wait_synced,
    browser,  # noqa: F401 - a fixture
    daphne_server,  # noqa: F401 - a fixture
    page,  # noqa: F401 - a fixture
)
from tests.live import Site, Spec, daphnes, site_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaphneServer]]:
    var_dir = tmp_path_factory.mktemp("switchboard-ux")
    # The offline model's own pace, whatever the environment running the tests says.
    site = Site(var_dir=var_dir, env={**site_env(var_dir), "OFFLINE_STREAM_DELAY_MS": "15"})
    site.manage("shell", "-c", PREPARE_DATABASE)
    with daphnes(site, Spec("daphne"), start_timeout=SERVER_START_TIMEOUT) as started:
        yield (DaphneServer(url=started[0].url, log=started[0].log, database=var_dir / "db.sqlite3"),)


def _chat(page: Page, question: str, answer: str) -> Locator:
    """Start a conversation, ask `question`, and wait until the answer containing `answer` is complete."""
    _start_conversation(page)
    _send(page, question)
    shown = _expect_answer(page, answer)
    _expect_idle(page)
    return shown


def test_it_shows_who_wrote_each_answer_and_what_it_took_without_a_reload(page: Page) -> None:
    _start_conversation(page)

    _send(page, "/draw_dot")

    answer = _expect_answer(page, "returned")
    meta = answer.locator(".message-meta")
    expect(meta.locator(".answer-by")).to_have_text("Demo assistant · offline")
    expect(meta.locator(".answer-tokens")).to_have_text(re.compile(r"^\d+ tokens$"))
    expect(meta.locator(".answer-duration")).to_have_text(re.compile(r"^\d+(\.\d)? m?s$"))
    expect(meta.locator("time")).to_have_attribute("title", re.compile(r"\d{4}, \d\d:\d\d:\d\d"))
    _screenshot(page, "chat-answer-details")

    meta.get_by_role("link", name="Trace").click()
    page.wait_for_url(re.compile(r"/runs/run_\w+/trace/$"))


def test_it_copies_a_question_and_an_answers_markdown(browser: tuple[Browser, dict], daphne_server) -> None:
    context = _context(browser, daphne_server.url, permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        answer = _chat(page, "say **bold**", "offline model")

        answer.get_by_role("button", name="Copy message").click()
        expect(answer.get_by_role("button", name="Copy message")).to_have_text("Copied")
        assert "You said: “say **bold**”" in page.evaluate("navigator.clipboard.readText()")

        question = page.locator(".message-user")
        question.hover()
        question.get_by_role("button", name="Copy message").click()
        assert page.evaluate("navigator.clipboard.readText()") == "say **bold**"
    finally:
        context.close()


def test_it_colours_code_in_an_answer(page: Page) -> None:
    answer = _chat(
        page, "Show me code:\n\n```python\ndef greet(name):\n    return f'hi {name}'  # friendly\n```", "offline"
    )
    code = answer.locator(".code-block pre")
    expect(code.locator("span.k").first).to_have_text("def")
    keyword = code.locator("span.k").first.evaluate("node => getComputedStyle(node).color")
    plain = code.evaluate("node => getComputedStyle(node).color")
    assert keyword != plain, "keywords are not coloured"
    _screenshot(page, "chat-code-colours")


def test_it_streams_the_offline_answer_word_by_word(page: Page) -> None:
    _start_conversation(page)
    page.evaluate(
        """() => {
        window.__deltas = [];
        new MutationObserver(() => {
          const live = document.querySelector('.streaming');
          if (live) window.__deltas.push([performance.now(), live.textContent.length]);
        }).observe(document.getElementById('timeline'), { subtree: true, childList: true, characterData: true });
        }"""
    )

    _send(page, "tell me something")
    _expect_answer(page, "offline model")

    deltas = page.evaluate("window.__deltas")
    lengths = sorted({length for _, length in deltas})
    assert len(lengths) >= 5, f"the answer arrived in {len(lengths)} pieces"
    spread = deltas[-1][0] - deltas[0][0]
    assert spread >= 50, f"the whole answer streamed in {spread:.0f} ms"


def test_it_keeps_details_on_a_tool_answer_after_a_reload(page: Page) -> None:
    _chat(page, '/add {"a": 2, "b": 3}', "returned")
    expect(_tool_card(page, "add")).to_have_count(1)

    page.reload()
    _wait_synced(page)

    expect(page.locator(".message-assistant .answer-tokens")).to_have_count(1)
    expect(page.locator(".message-user .answer-tokens")).to_have_count(0)


def test_it_lists_conversations_beside_the_chat_and_collapses_the_list(page: Page) -> None:
    _chat(page, "first chat in the sidebar", "first chat in the sidebar")
    _chat(page, "second chat in the sidebar", "second chat in the sidebar")
    page.reload()
    _wait_synced(page)

    sidebar = page.locator("#sidebar")
    titles = sidebar.locator(".sidebar-list li > a")
    expect(titles.first).to_have_text("second chat in the sidebar")
    expect(sidebar.locator("[aria-current=page]")).to_have_text("second chat in the sidebar")
    _screenshot(page, "chat-sidebar")

    sidebar.get_by_role("searchbox").fill("first chat")
    sidebar.get_by_role("searchbox").press("Enter")
    expect(titles).to_have_count(1)
    titles.first.click()
    expect(page.locator("#chat-title")).to_have_text("first chat in the sidebar")

    with page.expect_response("**/settings/sidebar"):
        page.get_by_role("button", name="Conversations").click()
    expect(sidebar).to_be_hidden()
    page.reload()
    expect(sidebar).to_be_hidden()  # remembered on the server: drawn folded from the start
    expect(page.get_by_role("button", name="Conversations")).to_have_attribute("aria-expanded", "false")
    with page.expect_response("**/settings/sidebar"):
        page.get_by_role("button", name="Conversations").click()
    expect(sidebar).to_be_visible()


def test_it_archives_a_conversation_from_the_sidebar(page: Page) -> None:
    _chat(page, "chat to archive from the list", "chat to archive")
    kept = _start_conversation(page)

    item = page.locator(".sidebar-list li", has_text="chat to archive from the list")
    item.hover()
    item.get_by_role("button", name=re.compile("Archive")).click()

    page.wait_for_url(f"**/conversations/{kept}/")
    expect(page.locator(".sidebar-list li", has_text="chat to archive from the list")).to_have_count(0)


def test_it_uses_keyboard_shortcuts_listed_in_a_help_dialog(page: Page) -> None:
    first = _start_conversation(page)
    page.locator("body").click()

    page.keyboard.press("Control+/")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    _screenshot(page, "chat-shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.keyboard.press("Control+k")
    expect(page.locator("#sidebar-q")).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(page.locator("#message-input")).to_be_focused()

    _send(page, '/wait {"seconds": 30}')
    expect(_tool_card(page, "wait")).to_have_class("tool-card tool-in_progress")
    page.locator("#chat-title").click()
    page.keyboard.press("Escape")
    expect(page.locator(".run-status.run-cancelled")).to_have_text("Stopped")
    _expect_idle(page)

    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(lambda url: "/conversations/thread_" in url and first not in url)


def test_it_fits_the_header_on_one_line_and_opens_the_list_as_a_drawer_on_a_phone(
    browser: tuple[Browser, dict], daphne_server
) -> None:
    # Without the drawer's slide, a screenshot shows it open rather than on its way.
    context = _context(browser, daphne_server.url, viewport={"width": 375, "height": 740}, reduced_motion="reduce")
    try:
        page = context.new_page()
        _chat(page, "a chat on a phone", "a chat on a phone")

        header = page.locator("header.topbar")
        height = header.evaluate("node => node.getBoundingClientRect().height")
        assert height <= 56, f"the header is {height} px tall"
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        _screenshot(page, "chat-phone")

        page.get_by_role("button", name="Conversations").click()
        drawer = page.locator("#sidebar")
        expect(drawer).to_be_in_viewport()
        expect(drawer.locator("[aria-current=page]")).to_have_text("a chat on a phone")
        _screenshot(page, "chat-phone-drawer")
        page.keyboard.press("Escape")
        expect(drawer).not_to_be_in_viewport()

        page.get_by_text("Menu", exact=True).click()
        expect(page.locator(".site-menu-items").get_by_role("link", name="Assistants")).to_be_visible()
        _screenshot(page, "chat-phone-menu")
    finally:
        context.close()


def test_it_counts_the_seconds_of_a_running_tool_and_marks_it_stopped(page: Page) -> None:
    _start_conversation(page)

    _send(page, '/wait {"seconds": 30}')
    card = _tool_card(page, "wait")
    expect(card.locator(".tool-elapsed")).to_have_text(re.compile(r"^[2-9] s$"))
    _screenshot(page, "chat-tool-running")
    page.locator("#stop").click()

    expect(card.locator(".tool-status")).to_have_text("Stopped")
    expect(card.locator(".tool-elapsed")).to_have_count(0)
    _expect_idle(page)


def test_it_marks_a_refused_call_as_denied_not_cancelled(page: Page) -> None:
    _start_conversation(page, "Careful assistant")

    _send(page, "/draw_dot")
    card = _tool_card(page, "draw_dot")
    card.get_by_role("button", name="Deny").click()

    expect(card.locator(".tool-status")).to_have_text("Denied")
    expect(card).to_have_class(re.compile(r"\btool-denied\b"))
    _expect_idle(page)
    _send(page, '/add {"a": "x", "b": 1}')
    _tool_card(page, "add").get_by_role("button", name="Approve").click()
    expect(_tool_card(page, "add").locator(".tool-status")).to_have_text("Failed")
    _expect_idle(page)
    _screenshot(page, "chat-tool-denied-failed")
    page.reload()
    _wait_synced(page)
    expect(_tool_card(page, "draw_dot").locator(".tool-status")).to_have_text("Denied")


def test_it_switches_the_theme_and_remembers_it_on_the_server(browser: tuple[Browser, dict], daphne_server) -> None:
    light = _context(browser, daphne_server.url, color_scheme="light")
    try:
        page = light.new_page()
        _start_conversation(page)
        background = "getComputedStyle(document.body).backgroundColor"
        assert page.evaluate(background) == "rgb(246, 247, 249)"

        page.get_by_role("button", name="Dark theme").click()
        _wait_synced(page)
        assert page.evaluate(background) == "rgb(18, 21, 27)"
        expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "true")
        _screenshot(page, "chat-theme-dark")

        other = light.new_page()  # another tab, the same user: the choice came from the server
        other.goto("/")
        assert other.evaluate(background) == "rgb(18, 21, 27)"

        page.get_by_role("button", name="System theme").click()
        _wait_synced(page)
        assert page.evaluate(background) == "rgb(246, 247, 249)"
    finally:
        light.close()
