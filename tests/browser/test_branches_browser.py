"""Edit and branch, answers kept as versions, another assistant mid-conversation and a shared link, in a real
chromium. One Daphne, the demo data and login of test_chat_browser.py, with sharing allowed on the site."""

# ruff: noqa: F811 - the fixtures come from test_chat_browser.py; tests name them as parameters

from __future__ import annotations

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
    _persisted_messages,
    _screenshot,
    _send,
    _start_conversation,
    _wait_synced,
    browser,  # noqa: F401 - a fixture
    daphne_server,  # noqa: F401 - a fixture
    page,  # noqa: F401 - a fixture
)
from tests.live import Site, Spec, daphnes, site_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ALLOW_SHARING = """
from core.preferences import SiteDefault
row = SiteDefault.objects.first() or SiteDefault()
row.sharing_enabled = True
row.save()
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaphneServer]]:
    var_dir = tmp_path_factory.mktemp("switchboard-branches")
    site = Site(var_dir=var_dir, env=site_env(var_dir))
    site.manage("shell", "-c", PREPARE_DATABASE + ALLOW_SHARING)
    with daphnes(site, Spec("daphne"), start_timeout=SERVER_START_TIMEOUT) as started:
        yield (DaphneServer(url=started[0].url, log=started[0].log, database=var_dir / "db.sqlite3"),)


def _user_message(page: Page, text: str):
    return page.locator(".message-user", has=page.locator(".bubble", has_text=text))


def test_it_edits_a_question_switches_between_versions_and_keeps_the_branch_after_a_reload(
    page: Page, daphne_server: DaphneServer
) -> None:
    thread_id = _start_conversation(page)
    _send(page, "first question")
    _expect_answer(page, "first question")
    _send(page, "second question")
    _expect_answer(page, "second question")
    _expect_idle(page)

    question = _user_message(page, "second question")
    question.hover()
    question.get_by_role("button", name="Edit and send again").click()
    editor = question.get_by_role("textbox", name="Edited message")
    expect(editor).to_have_value("second question")
    editor.fill("second question, said better")
    editor.press("Enter")

    _expect_answer(page, "second question, said better")
    _expect_idle(page)
    edited = _user_message(page, "second question, said better")
    expect(edited.locator(".version-count")).to_have_text("2 / 2")
    expect(page.locator(".message-user")).to_have_count(2)
    expect(page.locator(".message-assistant", has_text="“second question”")).to_have_count(0)
    _screenshot(page, "branches-edited-question")

    edited.get_by_role("button", name="Previous version").click()

    original = _user_message(page, "second question")
    expect(original.locator(".version-count")).to_have_text("1 / 2")
    _expect_answer(page, "“second question”")
    expect(page.locator(".message-assistant", has_text="said better")).to_have_count(0)

    page.reload()
    _wait_synced(page)
    expect(_user_message(page, "second question").locator(".version-count")).to_have_text("1 / 2")
    _expect_answer(page, "“second question”")
    expect(page.locator(".message", has_text="said better")).to_have_count(0)
    _screenshot(page, "branches-first-version-after-reload")
    # Nothing was deleted: both exchanges are stored, the first question once.
    roles = [role for _, role, _ in _persisted_messages(daphne_server, thread_id)]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant"]


def test_it_regenerates_with_another_assistant_and_compares_the_two_answers(page: Page) -> None:
    _start_conversation(page)
    _send(page, "which of you is better?")
    first = _expect_answer(page, "which of you is better?")
    expect(first.locator(".answer-by")).to_contain_text("Demo assistant")
    _expect_idle(page)

    page.select_option("#assistant-select", label="Careful assistant · offline")
    page.wait_for_load_state()
    _wait_synced(page)
    expect(page.locator(".flash")).to_contain_text("Careful assistant answers from the next message on.")
    page.get_by_role("button", name="Regenerate answer").click()

    second = page.locator(".message-assistant")
    expect(second.locator(".version-count")).to_have_text("2 / 2")
    expect(second.locator(".answer-by")).to_contain_text("Careful assistant")
    _expect_idle(page)
    _screenshot(page, "branches-second-answer")

    second.get_by_role("button", name="Previous version").click()

    expect(page.locator(".message-assistant .version-count")).to_have_text("1 / 2")
    expect(page.locator(".message-assistant .answer-by")).to_contain_text("Demo assistant")
    _screenshot(page, "branches-first-answer")


def test_it_answers_with_the_assistant_switched_to_in_the_header(page: Page) -> None:
    _start_conversation(page)
    _send(page, "hello")
    _expect_answer(page, "hello")
    _expect_idle(page)

    page.select_option("#assistant-select", label="Careful assistant · offline")
    page.wait_for_load_state()
    _wait_synced(page)
    expect(page.locator("#assistant-select option:checked")).to_have_text("Careful assistant · offline")
    _send(page, "and now?")

    answer = _expect_answer(page, "and now?")
    expect(answer.locator(".answer-by")).to_contain_text("Careful assistant")
    expect(page.locator(".message-assistant .answer-by").first).to_contain_text("Demo assistant")
    _screenshot(page, "branches-switched-assistant")


BOXES = "nodes => nodes.map(node => [node.getBoundingClientRect().top, node.getBoundingClientRect().bottom])"


def test_it_answers_with_the_model_switched_to_in_the_header(browser: tuple[Browser, dict], daphne_server) -> None:
    # A phone: the chip and its form must fit beside everything else the header holds.
    context = _context(browser, daphne_server.url, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        _start_conversation(page)
        chip = page.locator("#model-switch > summary")
        expect(chip).to_have_text("Model: offline")

        # The chat's header keeps to two lines: the title, then the assistant, its model and the actions.
        boxes = page.eval_on_selector_all("#assistant-switch, #model-switch, .chat-head > .menu", BOXES)
        assert max(top for top, _ in boxes) < min(bottom for _, bottom in boxes), f"the controls wrap: {boxes}"

        chip.click()
        form = page.locator(".model-form")
        expect(form).to_be_in_viewport(ratio=1)
        form.get_by_label("Model for this conversation").fill("offline-large")
        _screenshot(page, "model-switch-form-375px")
        form.get_by_role("button", name="Use this model").click()
        page.wait_for_load_state()
        _wait_synced(page)
        expect(page.locator(".flash")).to_contain_text("Demo assistant answers with offline-large from the next")
        expect(chip).to_have_text("Model: offline-large")
        _send(page, "which model?")

        answer = _expect_answer(page, "which model?")
        expect(answer.locator(".answer-model")).to_have_text("offline-large")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        header = page.locator("header.topbar").evaluate("node => node.getBoundingClientRect().height")
        assert header <= 56, f"the header is {header} px tall"
        _screenshot(page, "model-switched-375px")
    finally:
        context.close()


def test_it_opens_a_shared_link_logged_out_and_not_once_revoked(
    page: Page, browser: tuple[Browser, dict], daphne_server: DaphneServer
) -> None:
    thread_id = _start_conversation(page)
    _send(page, '/add {"a": 2, "b": 3}')
    _expect_answer(page, "5")
    _expect_idle(page)

    page.locator("details.menu > summary").click()
    page.get_by_role("link", name="Share by link…").click()
    page.get_by_role("button", name="Create a link").click()
    link = page.locator("#share-link").input_value()
    assert "/shared/" in link and thread_id not in link

    stranger = browser[0].new_context()  # no session: logged out
    try:
        shared = stranger.new_page()
        shared.goto(link)
        expect(shared.locator(".message-user")).to_contain_text('/add {"a": 2, "b": 3}')
        expect(shared.locator(".tool-card .tool-name")).to_have_text("add")
        expect(shared.locator("#timeline button, #timeline form, .answer-trace, #composer")).to_have_count(0)
        expect(shared.locator(".topnav")).to_have_count(0)
        assert "demo" not in shared.locator(".tool-card summary").inner_text()
        _screenshot(shared, "branches-shared-logged-out")

        page.get_by_role("button", name="Revoke the link").click()
        expect(page.get_by_role("button", name="Create a link")).to_be_visible()
        assert shared.goto(link).status == 404
    finally:
        stranger.close()
