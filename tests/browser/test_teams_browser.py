"""Done means, in a real chromium against a real Daphne: a user builds a triage assistant with two specialists
and a personal-data guardrail on the pages alone, and the chat shows who answered each message, the handoffs,
and what the guardrail refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.live import REPO_ROOT, Site, daphne, site_create

ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site: Site = site_create(tmp_path_factory.mktemp("switchboard-teams"), users=("alice",))
    with daphne(site) as server:
        yield server.url


@pytest.fixture
def page(site_url: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=site_url, viewport=DESKTOP)
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "alice-password-1")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("/")
        try:
            yield page
        finally:
            browser.close()


def assistant_create(page: Page, name: str, description: str) -> None:
    page.goto("/assistants/new")
    page.fill("#id_name", name)
    page.fill("#id_description", description)
    page.select_option("#id_provider", label="Offline")
    page.get_by_role("button", name="Create assistant").click()
    page.wait_for_url(re.compile(r"/assistants/asst_\w+/$"))
    expect(page.locator("h1")).to_contain_text(name)


def team_add(page: Page, target: str, when: str) -> None:
    team = page.locator("#team")
    team.locator("select[name=target]").select_option(label=target)
    team.locator("select[name=kind]").select_option(label="Hands off to")
    team.locator("input[name=description]").fill(when)
    team.get_by_role("button", name="Add to the team").click()
    expect(page.locator("#team .team-links")).to_contain_text(target)


def send(page: Page, text: str, answers: int) -> None:
    """Send a message and wait until the conversation has this many answers and notes."""
    message = page.locator("#message-input")
    expect(message).to_be_enabled()
    message.fill(text)
    message.press("Enter")
    expect(page.locator(".message-assistant, .run-status")).to_have_count(answers)
    expect(message).to_be_enabled()


def test_it_builds_a_triage_team_with_a_pii_guardrail_on_pages_and_shows_who_answered(page: Page) -> None:
    assistant_create(page, "Billing desk", "Invoices and payments.")
    assistant_create(page, "Castle expert", "Questions about castles.")
    assistant_create(page, "Triage", "Sends each question to the right desk.")
    triage_url = page.url
    team_add(page, "Billing desk", "Invoices, payments, refunds.")
    team_add(page, "Castle expert", "Anything about castles.")

    page.get_by_role("link", name="Add a guardrail").click()
    page.fill("#id_name", "No personal data")
    page.select_option("#id_kind", label="Personal data (PII)")
    page.select_option("#id_stage", value="both")
    for kind in ("email", "phone", "card"):
        page.check(f"input[name=pii_types][value={kind}]")
    page.get_by_role("button", name="Add").click()
    page.wait_for_url(triage_url)
    expect(page.locator("#guardrails")).to_contain_text("No personal data")
    expect(page.locator("#team")).to_contain_text("Hands off to Billing desk")

    page.goto("/")
    option = page.locator("select[name=assistant] option", has_text="Triage").first
    page.select_option("select[name=assistant]", label=option.inner_text().strip())
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url("**/conversations/*/")

    send(page, "hello", 1)
    send(page, "/handoff Billing desk where is my invoice", 2)
    send(page, "/handoff Castle expert what is a keep?", 3)
    send(page, "my card is 4111 1111 1111 1111, charge it", 4)

    authors = page.locator(".message-assistant .answer-author")
    expect(authors).to_have_text(["Triage", "Billing desk", "Castle expert"])
    expect(page.locator(".handoff-note")).to_have_text(["Handed off to Billing desk.", "Handed off to Castle expert."])
    refused = page.locator(".run-status.run-failed")
    expect(refused).to_contain_text(
        "The input guardrail “No personal data” refused the message: it contains a payment card number."
    )
    expect(page.locator(".message-assistant").last).not_to_contain_text("4111")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "teams-triage-1280px.png"), full_page=True)

    # Drawn the same from the server after a reload.
    page.reload()
    expect(page.locator(".message-assistant .answer-author")).to_have_text(["Triage", "Billing desk", "Castle expert"])
    expect(page.locator(".handoff-note")).to_have_count(2)
    expect(page.locator(".run-status.run-failed")).to_contain_text("“No personal data”")
