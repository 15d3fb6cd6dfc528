"""The trace page in a real chromium: a Daphne subprocess on its own SQLite file (so the trace store writes
from its own thread, as in production), a run traced through the Agents SDK's public API, a screenshot."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.live import REPO_ROOT, Site, daphne, site_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

# Runs in the site's own `manage.py shell`: a user, a conversation with a run, and the run's trace written by
# the real trace store (the SDK calls it; its thread inserts the rows), then its ids on the last line.
PREPARE = """
import json, secrets, time
import agents
from django.contrib.auth import get_user_model
from django.core import management
from assistants.models import Assistant
from chat.models import Conversation, Run
from observability.services import trace_store_get

management.call_command("migrate", interactive=False, verbosity=0)
management.call_command("setup_demo")
alice = get_user_model().objects.create_user("alice", password="alice-password-1")
assistant = Assistant.objects.get(name="Demo assistant")
thread = Conversation.objects.create(owner=alice, assistant=assistant, title="Traced")
run = Run.objects.create(conversation=thread, assistant=assistant, status="completed", model="offline")
metadata = {"run_id": run.pk, "thread_id": thread.pk, "user_id": str(alice.pk), "assistant_id": assistant.pk,
            "provider": "Offline", "model": "offline"}
with agents.trace("switchboard-run", trace_id="trace_" + secrets.token_hex(16), group_id=thread.pk, metadata=metadata):
    with agents.custom_span("run.claim", {}):
        time.sleep(0.01)
    with agents.custom_span("mcp.connect", {"server": "demo", "transport": "stdio", "reused": True}):
        time.sleep(0.005)
    with agents.agent_span(name="Demo assistant", tools=["add"]):
        with agents.generation_span(model="offline") as call:
            time.sleep(0.03)
            call.span_data.usage = {"input_tokens": 31, "output_tokens": 0}
        with agents.function_span("add", input='{"a": 2, "b": 3}') as tool:
            time.sleep(0.04)
            tool.span_data.mcp_data = {"server": "demo"}
        with agents.function_span("wait", input='{"seconds": 5}') as tool:
            time.sleep(0.02)
            tool.set_error({"message": "Error running tool", "data": {"error": "timed out"}})
        with agents.generation_span(model="offline") as call:
            with agents.custom_span("model.first_token", {"ttft_ms": 12.5}):
                pass
            time.sleep(0.03)
            call.span_data.usage = {"input_tokens": 52, "output_tokens": 9}
    with agents.custom_span("run.end", {"status": "completed", "error_code": ""}):
        pass
trace_store_get().force_flush()
print(json.dumps({"thread": thread.pk, "run": run.pk}))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    var_dir = tmp_path_factory.mktemp("switchboard-trace")
    site = Site(var_dir=var_dir, env=site_env(var_dir))
    ids = json.loads(site.manage("shell", "-c", PREPARE).strip().splitlines()[-1])
    with daphne(site) as server:
        yield server.url, ids


@pytest.fixture
def page(served: tuple[str, dict[str, str]]) -> Iterator[Page]:
    url, _ = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto("/accounts/login/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password-1")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("/")
            yield page
        finally:
            browser.close()


def test_it_draws_the_runs_waterfall_with_the_failed_call_standing_out(page: Page, served) -> None:
    _, ids = served
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.goto(f"/conversations/{ids['thread']}/runs/{ids['run']}/trace/")

    expect(page.get_by_role("heading", name=f"Trace of run {ids['run']}")).to_be_visible()
    totals = page.get_by_label("Totals")
    expect(totals).to_contain_text("83 in · 9 out")
    expect(totals).to_contain_text("Failed tool calls1")
    rows = page.locator("li.wf-row")
    expect(rows).to_have_count(9)
    failed = page.locator("li.wf-failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("wait")
    expect(failed.locator(".wf-badge")).to_have_text("failed")
    # Colour from the stylesheet, not from inline style: the failed bar is painted in the danger colour.
    bar_fill = failed.locator("rect.wf-bar").evaluate("bar => getComputedStyle(bar).fill")
    ok_fill = page.locator("li.wf-kind-tool:not(.wf-failed) rect.wf-bar").evaluate("bar => getComputedStyle(bar).fill")
    assert bar_fill != ok_fill
    # Bars follow the time axis: the first model call starts before the tool call it led to, and has width.
    model = page.locator("li.wf-kind-model rect.wf-bar").first.bounding_box()
    tool = page.locator("li.wf-kind-tool rect.wf-bar").first.bounding_box()
    assert model["width"] > 5 and tool["x"] >= model["x"] + model["width"] - 1
    # Nested by parent: the model call is indented under the agent.
    agent_name = page.locator("li.wf-kind-agent .wf-label").bounding_box()
    model_name = page.locator("li.wf-kind-model .wf-label").first.bounding_box()
    assert model_name["x"] > agent_name["x"]
    expect(page.locator("li.wf-kind-model").nth(1)).to_contain_text("first token 12 ms")
    assert refused == []

    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "trace-waterfall.png"), full_page=True)
