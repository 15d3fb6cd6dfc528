"""MCP Apps in a real chromium against a real Daphne: a tool's view (tests/fakes/app_mcp_server.py) shows in its
tool card, shakes hands with the page and is sent the call's input and result, again after a reload; a hostile view
can reach nothing of the page (no parent document, cookies, storage, network, popups or top navigation) and the page
refuses it everything the extension would let a view ask for. Screenshot: mcp-app-views-1280px."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_teams_browser import page  # noqa: F401 - logged in as alice, on this module's site_url
from tests.live import REPO_ROOT, Site, daphne, site_create

ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

VIEWER = """
import sys
from assistants.models import Assistant
from mcp_servers.models import MCPServer
server = MCPServer.objects.create(
    name="apps", command=sys.executable, args=["tests/fakes/app_mcp_server.py"], cwd={cwd!r}, call_timeout=30
)
viewer = Assistant.objects.create(name="Viewer", provider=Assistant.objects.get(name="Demo assistant").provider)
viewer.mcp_servers.add(server)
"""

CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective));
"""

# Post a message to the page as if from the page itself, and wait until every listener has heard it.
POST_TO_PAGE = """message => new Promise((resolve) => {
  window.addEventListener("message", () => setTimeout(resolve, 0), { once: true });
  window.postMessage(message, "*");
})"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site: Site = site_create(tmp_path_factory.mktemp("switchboard-apps"), users=("alice",))
    site.manage("shell", "-c", VIEWER.format(cwd=str(REPO_ROOT)))
    with daphne(site) as server:
        yield server.url


def synced(page: Page) -> None:  # noqa: F811 - the fixture's page
    expect(page.locator("#timeline[data-connection=open][data-synced='1']")).to_have_count(1)


def send(page: Page, text: str) -> None:  # noqa: F811
    expect(page.locator("#message-input")).to_be_enabled()
    page.locator("#message-input").fill(text)
    page.locator("#message-input").press("Enter")


def card_of(page: Page, tool: str) -> Locator:  # noqa: F811
    card = page.locator(".tool-card").filter(has=page.locator(".tool-name", has_text=tool))
    expect(card).to_have_class("tool-card tool-completed")
    return card


def test_it_shows_a_tools_view_and_walls_a_hostile_one_off(page: Page) -> None:  # noqa: F811
    page.context.add_init_script(CSP_PROBE)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.select_option("select[name=assistant]", label="Viewer")
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url("**/conversations/*/")
    conversation_url = page.url
    synced(page)

    send(page, '/counter {"start": 41}')
    counter = card_of(page, "counter")
    frame = counter.locator("iframe.tool-app-frame")
    expect(frame).to_have_attribute("sandbox", "allow-scripts")
    view = counter.frame_locator("iframe.tool-app-frame")
    expect(view.locator("#host")).to_have_text("Switchboard")
    expect(view.locator("#input")).to_have_text('Input: {"start":41}')
    expect(view.locator("#count")).to_have_text("Count: 42")
    expect(frame).to_have_attribute("style", "height: 160px;")  # the size the view asked for

    # The page itself posing as the view is not heard: only the frame's own window is.
    posing = {"jsonrpc": "2.0", "method": "ui/notifications/size-changed", "params": {"height": 700}}
    page.evaluate(POST_TO_PAGE, posing)
    expect(frame).to_have_attribute("style", "height: 160px;")

    send(page, "/probe {}")
    probe = card_of(page, "probe")
    out = probe.frame_locator("iframe.tool-app-frame").locator("#out")
    expect(out).to_contain_text('"done": true')
    expect(out).to_contain_text("ui/notifications/tool-result")
    found = json.loads(out.text_content())
    print(json.dumps(found, indent=1))  # what the hostile view met, for the log
    for reach in ("parent_document", "parent_write", "top_location_read", "cookie", "storage"):
        assert found[reach] == "blocked: SecurityError", (reach, found[reach])
    assert found["popup"] == "allowed: no window"
    assert found["top_navigation"].startswith("blocked"), found["top_navigation"]
    assert found["fetch"] == "blocked: TypeError"
    assert found["host_capabilities"] == {}
    refused = ("early_tools_call", "second_initialize", "tools_call", "resources_read", "message", "open_link")
    for asked in (*refused, "model_context"):
        assert found[asked] == "refused: -32601", (asked, found[asked])
    assert found["display_mode"] == 'answered: {"mode":"inline"}' and found["ping"] == "answered: {}"
    assert found["heard"] == ["ui/notifications/tool-input", "ui/notifications/tool-result"]
    expect(probe.locator("iframe.tool-app-frame")).to_have_attribute("style", "height: 800px;")  # bounded

    # The page is untouched: same address, its own content, no policy of its own broken.
    assert page.url == conversation_url
    expect(page.locator("#timeline .tool-card")).to_have_count(2)
    assert page.evaluate("window.__cspViolations") == []

    counter.evaluate("card => { card.scrollIntoView({block: 'start'}); window.scrollBy(0, -90); }")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "mcp-app-views-1280px.png"))

    # A reload draws the view again from the server, and the page sends it the call again.
    page.reload()
    synced(page)
    expect(card_of(page, "counter").frame_locator("iframe.tool-app-frame").locator("#count")).to_have_text("Count: 42")
