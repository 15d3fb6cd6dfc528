"""A rich tool result in a real chromium: the demo's picture as an image, loaded from the owner-only URL under the
page's CSP, and its forecast's structured content as a table; a screenshot of both goes to test-artifacts/."""

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

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective));
"""


def test_it_shows_an_image_and_a_table_in_tool_cards(page: Page) -> None:  # noqa: F811 - the imported fixture
    page.context.add_init_script(CSP_PROBE)
    _start_conversation(page)

    _send(page, '/draw_picture {"size": 96}')
    picture = _tool_card(page, "draw_picture")
    expect(picture).to_have_class("tool-card tool-completed")
    picture.locator("summary").click()
    image = picture.locator(".tool-image img")
    expect(image).to_be_visible()
    image.evaluate("img => img.decode()")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [96, 96]
    assert image.get_attribute("src").startswith("/conversations/")

    _send(page, '/forecast {"city": "Paris", "days": 4}')
    forecast = _tool_card(page, "forecast")
    expect(forecast).to_have_class("tool-card tool-completed")
    forecast.locator("summary").first.click()
    table = forecast.locator("table.tool-table")
    expect(table).to_be_visible()
    expect(table.locator("caption")).to_have_text("city: Paris")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("thead th")).to_have_text(["day", "high_c", "low_c", "sky"])

    assert page.evaluate("window.__cspViolations") == []
    page.set_viewport_size({"width": 1280, "height": 1500})  # both cards in one shot
    picture.evaluate("card => card.scrollIntoView({block: 'start'})")
    _screenshot(page, "tool-results-image-and-table")


def test_it_fills_the_message_from_a_prompt_and_attaches_a_resource(page: Page) -> None:  # noqa: F811
    _start_conversation(page)

    page.get_by_role("button", name="Prompts & resources").click()
    picker = page.locator("#mcp-picker")
    expect(picker).to_be_visible()
    # Each prompt is offered with its slash command.
    expect(picker.locator("#mcp-prompts")).to_contain_text("/demo:explain topic=… [audience=…]")
    picker.get_by_role("button", name="Explain a topic").click()
    picker.get_by_label("topic").fill("tool calls")
    picker.get_by_role("button", name="Insert").click()
    expect(picker).to_be_hidden()
    prompt = "Explain tool calls to a newcomer in three sentences."
    expect(page.locator("#message-input")).to_have_value(prompt)

    page.get_by_role("button", name="Prompts & resources").click()
    picker.get_by_role("button", name="About the demo server").click()
    expect(picker).to_be_hidden()
    expect(page.locator("#message-input")).to_have_value(prompt)  # attached, not pasted
    expect(page.locator("#attached-resources .resource-chip", has_text="About the demo server")).to_have_count(1)
    _send(page, prompt)
    sent = page.locator(".message-user", has_text=prompt)
    expect(sent.locator(".resource-chip", has_text="About the demo server")).to_have_count(1)
    expect(page.locator("#attached-resources .resource-chip")).to_have_count(0)
    # The offline model quotes what it was given: the message, then the resource's contents.
    expect(page.locator(".message-assistant", has_text="Attached resource demo://about")).to_have_count(1)
    page.reload()  # the chip as the server draws it
    _wait_synced(page)
    expect(sent.locator(".resource-chip", has_text="About the demo server")).to_have_count(1)

    _send(page, '/demo:explain topic=resources audience="a new engineer"')
    expect(
        page.locator(".message-user", has_text="Explain resources to a new engineer in three sentences.")
    ).to_have_count(1)
    expect(page.locator(".message-assistant", has_text="Explain resources to a new engineer")).to_have_count(1)
    _send(page, "/demo:explain audience=nobody")
    expect(page.locator(".run-error", has_text="missing topic")).to_have_count(1)
    expect(page.locator("#message-input")).to_have_value("/demo:explain audience=nobody")
    page.set_viewport_size({"width": 1280, "height": 1400})
    _screenshot(page, "composer-resource-chip-and-slash-prompt")
