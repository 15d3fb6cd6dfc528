"""Usage and quotas in a real chromium: a user whose monthly budget is used up is told so and keeps what they
typed; their usage page shows the month with its chart. One Daphne, the demo data and login of
test_chat_browser.py, and a budget for everyone that alice has just used up."""

# ruff: noqa: F811 - the fixtures come from test_chat_browser.py; tests name them as parameters

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_chat_browser import (
    PREPARE_DATABASE,
    SERVER_START_TIMEOUT,
    DaphneServer,
    _screenshot,
    _send,
    _start_conversation,
    browser,  # noqa: F401 - a fixture
    daphne_server,  # noqa: F401 - a fixture
    page,  # noqa: F401 - a fixture
)
from tests.live import Site, Spec, daphnes, site_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

BUDGET_USED = """
from django.contrib.auth import get_user_model
from chat.models import Quota, Usage
Quota.objects.create(monthly_tokens=1000)
alice = get_user_model().objects.get(username="alice")
Usage.objects.create(user=alice, run_id="run_earlier", thread_id="thread_earlier", assistant_name="Demo assistant",
                     provider_name="Offline", model="offline", prompt_tokens=600, completion_tokens=400,
                     total_tokens=1000)
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaphneServer]]:
    var_dir = tmp_path_factory.mktemp("switchboard-usage")
    site = Site(var_dir=var_dir, env=site_env(var_dir))
    site.manage("shell", "-c", PREPARE_DATABASE + BUDGET_USED)
    with daphnes(site, Spec("daphne"), start_timeout=SERVER_START_TIMEOUT) as started:
        yield (DaphneServer(url=started[0].url, log=started[0].log, database=var_dir / "db.sqlite3"),)


def test_it_refuses_a_message_over_budget_and_keeps_what_was_typed(page: Page) -> None:
    _start_conversation(page)
    _send(page, "Summarise my week, please")

    error = page.locator(".run-error")
    expect(error).to_contain_text("You have used your monthly budget (1,000 of 1,000 tokens)")
    expect(page.locator("#message-input")).to_have_value("Summarise my week, please")
    expect(page.locator(".message-user")).to_have_count(0)
    _screenshot(page, "chat-over-budget")


def test_it_shows_the_month_and_the_budget_on_the_usage_page(page: Page) -> None:
    page.goto("/settings/usage/")
    expect(page.get_by_role("heading", name="Your usage")).to_be_visible()
    expect(page.locator(".budget")).to_contain_text("1000 of 1000 tokens")
    expect(page.locator(".budget .error")).to_contain_text("used up")
    expect(page.locator(".usage-chart rect.usage-bar")).to_have_count(1)
    expect(page.locator(".usage-table", has_text="By assistant")).to_contain_text("Demo assistant")
    _screenshot(page, "usage-page")
