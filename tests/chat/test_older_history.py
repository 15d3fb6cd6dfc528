"""A long conversation opens at its latest page; older entries come a page at a time (red-team finding 5)."""

from __future__ import annotations

import pytest
from django.test import Client

from chat.models import Conversation, Message
from chat.timeline import TIMELINE_PAGE
from tests.ws import receive, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

COUNT = TIMELINE_PAGE + 30


@pytest.fixture
def conversation(alice, demo_assistant) -> Conversation:
    conversation = Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Long")
    Message.objects.bulk_create(
        [Message(conversation=conversation, role="user", content=f"message {n}") for n in range(COUNT)]
    )
    return conversation


def test_the_page_opens_at_the_latest_entries_with_a_way_back(client: Client, alice, conversation):
    client.force_login(alice)
    page = client.get(f"/conversations/{conversation.pk}/").content.decode()
    assert page.count('class="message message-user"') == TIMELINE_PAGE
    assert f"message {COUNT - 1}<" in page and "message 0<" not in page
    assert 'id="older"' in page and "Show older messages" in page


async def test_it_sends_the_older_page_before_the_first_entry_shown(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "thread.resync"})
    state = (await receive(ws))["data"]
    assert len(state["entries"]) == TIMELINE_PAGE
    assert state["older"] == state["entries"][0]["key"]

    await ws.send_json_to({"type": "thread.older", "before": state["older"]})
    older = await receive(ws)
    assert older["event"] == "thread.older"
    assert len(older["data"]["entries"]) == COUNT - TIMELINE_PAGE
    assert "message 0<" in older["data"]["entries"][0]["html"]
    assert older["data"]["older"] is None  # nothing before that

    await ws.send_json_to({"type": "thread.older", "before": 12})
    refused = await receive(ws)
    assert refused["event"] == "error" and "'before'" in refused["data"]["message"]
    await ws.disconnect()


def test_another_user_cannot_page_through_it(bob, conversation):
    from chat.timeline import older_answer  # the socket refuses bob at connect; the page is a 404

    client = Client()
    client.force_login(bob)
    assert client.get(f"/conversations/{conversation.pk}/").status_code == 404
    assert older_answer(conversation_id=conversation.pk, before="m:nope")["entries"] == []
