"""Files in a real chromium: a PDF attached with the button and a note dropped on the conversation, shown as chips,
an answer citing the PDF (its sources under it), all there again after a reload; an assistant's owner gives it a
knowledge file on its page. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_browser import (  # noqa: F401 - the fixtures this module's tests use
    _screenshot,
    _send,
    _start_conversation,
    _tool_card,
    _wait_synced,
    browser,
    daphne_server,
    page,
    servers,
)
from tests.files.conftest import pdf_bytes

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

MANUAL = pdf_bytes("The pump must be primed with distilled water before its first start.")
DROP_NOTE = """
(main) => {
  const data = new DataTransfer();
  data.items.add(new File(["# Notes\\nThe warranty lasts three years."], "notes.md", { type: "text/markdown" }));
  main.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
  main.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
}
"""


def test_it_attaches_files_and_answers_citing_them(page: Page) -> None:  # noqa: F811 - the imported fixture
    _start_conversation(page)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach").click()
    chooser.value.set_files({"name": "manual.pdf", "mimeType": "application/pdf", "buffer": MANUAL})
    page.locator("main").evaluate(DROP_NOTE)
    composer_chips = page.locator("#attached .file-chip[data-file-id]")
    expect(composer_chips).to_have_count(2)
    expect(composer_chips.locator(".file-name")).to_have_text(["manual.pdf", "notes.md"])

    _send(page, "/file_search distilled water")
    question = page.locator(".message-user", has_text="/file_search distilled water")
    expect(question.locator(".message-files .file-name")).to_have_text(["manual.pdf", "notes.md"])
    expect(page.locator("#attached .file-chip")).to_have_count(0)
    answer = page.locator(".message-assistant", has_text="distilled water")
    expect(answer.locator(".message-citations a.file-chip")).to_have_text(["manual.pdf"])
    expect(answer.locator(".markdown sup.citation")).to_have_text(["[1]"])  # the marker, as a reference
    expect(_tool_card(page, "file_search")).to_have_class("tool-card tool-completed")
    _screenshot(page, "files-attached-and-cited")

    page.reload()
    _wait_synced(page)
    expect(question.locator(".message-files .file-name")).to_have_text(["manual.pdf", "notes.md"])
    expect(answer.locator(".message-citations a.file-chip")).to_have_text(["manual.pdf"])
    expect(answer.locator(".markdown sup.citation")).to_have_attribute("title", "manual.pdf")
    link = answer.locator(".message-citations a.file-chip").get_attribute("href")
    assert page.request.get(link).body() == MANUAL  # the cited file, for its owner


def test_it_refuses_a_file_whose_type_lies_in_the_composer(page: Page) -> None:  # noqa: F811 - the imported fixture
    _start_conversation(page)
    page.locator("#attach-input").set_input_files({"name": "fake.pdf", "mimeType": "application/pdf", "buffer": b"no"})
    failed = page.locator("#attached .file-chip.failed")
    expect(failed).to_have_count(1)
    expect(failed.get_by_role("alert")).to_contain_text("not a PDF")
    failed.get_by_role("button", name="Remove fake.pdf").click()
    expect(page.locator("#attached")).to_be_hidden()


def test_an_owner_gives_an_assistant_a_knowledge_file(page: Page) -> None:  # noqa: F811 - the imported fixture
    page.goto("/assistants/new")
    page.get_by_label("Name").fill("Manual reader")
    page.get_by_role("button", name="Create assistant").click()
    page.wait_for_url("**/assistants/asst_*/")
    page.locator("#knowledge-files").set_input_files(
        {"name": "manual.pdf", "mimeType": "application/pdf", "buffer": MANUAL}
    )
    page.get_by_role("button", name="Add files").click()
    knowledge = page.locator("#knowledge")
    expect(knowledge.locator(".file-name")).to_have_text(["manual.pdf"])
    _screenshot(page, "assistant-knowledge-file")
