"""In a real chromium against a real Daphne: a tool's MCP server (`@modelcontextprotocol/server-everything`) asks
the user to fill in a form during the call; the form shows on the tool card, again after a reload, under the
page's CSP, and the answer reaches the server. A screenshot of the form goes to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_teams_browser import page  # noqa: F401 - logged in as alice, on this module's site_url
from tests.live import REPO_ROOT, Site, daphne, site_create
from tests.mcp_servers.conftest import everything_command

ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ASKER = """
from assistants.models import Assistant
from mcp_servers.models import MCPServer
server = MCPServer.objects.create(name="everything", command={command!r}, args={args!r}, cwd={cwd!r}, call_timeout=30)
asker = Assistant.objects.create(name="Asker", provider=Assistant.objects.get(name="Demo assistant").provider)
asker.mcp_servers.add(server)
"""

CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective));
"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site: Site = site_create(tmp_path_factory.mktemp("switchboard-elicitation"), users=("alice",))
    command, *args = everything_command()
    site.manage("shell", "-c", ASKER.format(command=command, args=args, cwd=str(REPO_ROOT)))
    with daphne(site) as server:
        yield server.url


def synced(page: Page) -> None:  # noqa: F811 - the fixture's page
    expect(page.locator("#timeline[data-connection=open][data-synced='1']")).to_have_count(1)


def test_it_asks_the_servers_question_on_the_tool_card_and_sends_the_answer(page: Page) -> None:  # noqa: F811
    page.context.add_init_script(CSP_PROBE)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.select_option("select[name=assistant]", label="Asker")
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url("**/conversations/*/")
    synced(page)
    page.locator("#message-input").fill("/trigger-elicitation-request {}")
    page.locator("#message-input").press("Enter")

    form = page.locator(".tool-card form.elicitation")
    expect(form).to_be_visible()
    expect(form).to_contain_text("everything asks: Please provide inputs for the following fields:")
    expect(page.locator("#run-indicator-text")).to_have_text("Waiting for your answer…")
    expect(page.locator(".tool-card .tool-status")).to_have_text("Waiting for your answer")

    # A reload draws the same question from the server, waiting as before.
    page.reload()
    synced(page)
    form = page.locator(".tool-card form.elicitation")
    expect(form).to_be_visible()
    expect(form.get_by_label("String with email format")).to_have_attribute("type", "email")
    expect(form.get_by_label("Untitled Single Select Enum")).to_have_value("Monica")
    form.get_by_label("String (required)").fill("Ada Lovelace")
    form.locator("input[name=integer]").fill("7")
    form.get_by_label("Boolean").check()
    # The question's top in view, below the sticky header.
    form.evaluate("form => { form.scrollIntoView({block: 'start'}); window.scrollBy(0, -120); }")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "elicitation-form-1280px.png"))

    form.get_by_role("button", name="Accept").click()

    card = page.locator(".tool-card").filter(has=page.locator(".tool-name", has_text="trigger-elicitation-request"))
    expect(card).to_have_class("tool-card tool-completed")
    expect(card.locator("pre.tool-output")).to_contain_text("- Name: Ada Lovelace")
    expect(card.locator("pre.tool-output")).to_contain_text("- Favorite Integer: 7")
    expect(page.locator("form.elicitation")).to_have_count(0)
    assert page.evaluate("window.__cspViolations") == []
