"""A long conversation in a real chromium: it opens at its latest page and "Show older messages" brings the
earlier ones above, keeping the reader's place. One Daphne, the demo data and login of test_chat_browser.py."""

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
    _wait_synced,
    browser,  # noqa: F401 - a fixture
    daphne_server,  # noqa: F401 - a fixture
    page,  # noqa: F401 - a fixture
)
from tests.live import Site, Spec, daphnes, site_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

LONG_CONVERSATION = """
from django.contrib.auth import get_user_model
from assistants.models import Assistant
from chat.models import Conversation, Message
alice = get_user_model().objects.get(username="alice")
long = Conversation.objects.create(owner=alice, assistant=Assistant.objects.get(name="Demo assistant"), title="Long")
Message.objects.bulk_create([Message(conversation=long, role="user", content=f"note {n}") for n in range(150)])
print(long.pk)
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaphneServer]]:
    var_dir = tmp_path_factory.mktemp("switchboard-history")
    site = Site(var_dir=var_dir, env=site_env(var_dir))
    output = site.manage("shell", "-c", PREPARE_DATABASE + LONG_CONVERSATION)
    (var_dir / "thread").write_text(output.strip().splitlines()[-1])
    with daphnes(site, Spec("daphne"), start_timeout=SERVER_START_TIMEOUT) as started:
        yield (DaphneServer(url=started[0].url, log=started[0].log, database=var_dir / "db.sqlite3"),)


def test_it_pages_back_through_a_long_conversation(page: Page, daphne_server: DaphneServer) -> None:
    thread_id = (daphne_server.database.parent / "thread").read_text()
    page.goto(f"/conversations/{thread_id}/")
    _wait_synced(page)
    messages = page.locator(".message-user")
    expect(messages).to_have_count(100)
    expect(messages.first).to_contain_text("note 50")
    older = page.get_by_role("button", name="Show older messages")
    expect(older).to_be_visible()

    older.click()

    expect(messages).to_have_count(150)
    expect(messages.first).to_contain_text("note 0")
    expect(older).to_be_hidden()
    _screenshot(page, "chat-older-history")
