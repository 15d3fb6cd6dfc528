"""The chat page's details in a real chromium: who wrote each answer and what it took, Copy, coloured code,
the pace of the offline model's stream. One Daphne, the same demo data and login as test_chat_browser.py."""

# ruff: noqa: F811 - the fixtures come from test_chat_browser.py; tests name them as parameters

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

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
        _start_conversation(page)
        _send(page, "say **bold**")
        answer = _expect_answer(page, "offline model")
        _expect_idle(page)

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
    _start_conversation(page)

    _send(page, "Show me code:\n\n```python\ndef greet(name):\n    return f'hi {name}'  # friendly\n```")

    answer = _expect_answer(page, "offline model")
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
    _start_conversation(page)
    _send(page, '/add {"a": 2, "b": 3}')
    _expect_answer(page, "returned")
    expect(_tool_card(page, "add")).to_have_count(1)

    page.reload()
    _wait_synced(page)

    expect(page.locator(".message-assistant .answer-tokens")).to_have_count(1)
    expect(page.locator(".message-user .answer-tokens")).to_have_count(0)
