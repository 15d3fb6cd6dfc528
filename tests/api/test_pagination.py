"""Cursor pagination: limit 1..100 (default 20), order asc|desc (default desc), after, before, has_more."""

from __future__ import annotations

import pytest

from chat.models import Message
from chat.services import conversation_create
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread_with_messages(alice):
    """A thread with 25 messages; returns (thread id, message ids oldest first)."""
    thread = conversation_create(user=alice, messages=[{"role": "user", "content": f"m{i}"} for i in range(25)])
    return thread.pk, list(Message.objects.filter(conversation=thread).order_by("id").values_list("id", flat=True))


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["data"]]


def test_it_lists_twenty_newest_first_by_default(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    body = alice_api.get(f"threads/{thread_id}/messages").json()
    assert [m["id"] for m in body["data"]] == messages[::-1][:20]
    assert (body["object"], body["first_id"], body["last_id"], body["has_more"]) == (
        "list",
        messages[-1],
        messages[5],
        True,
    )


def test_it_lists_oldest_first_when_asked(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    assert ids(alice_api.get(f"threads/{thread_id}/messages", order="asc", limit=3)) == messages[:3]


def test_it_pages_forward_after_a_cursor(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    response = alice_api.get(f"threads/{thread_id}/messages", order="asc", limit=10, after=messages[19])
    assert ids(response) == messages[20:]
    assert response.json()["has_more"] is False


def test_it_pages_forward_after_a_cursor_newest_first(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    response = alice_api.get(f"threads/{thread_id}/messages", limit=2, after=messages[10])
    assert ids(response) == [messages[9], messages[8]]
    assert response.json()["has_more"] is True


def test_it_pages_back_before_a_cursor(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    response = alice_api.get(f"threads/{thread_id}/messages", order="asc", limit=3, before=messages[10])
    assert ids(response) == messages[7:10]
    assert response.json()["has_more"] is True


def test_it_pages_back_before_a_cursor_newest_first(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    response = alice_api.get(f"threads/{thread_id}/messages", limit=5, before=messages[22])
    assert ids(response) == [messages[24], messages[23]]
    assert response.json()["has_more"] is False


def test_it_reports_no_more_on_an_exact_last_page(alice_api, thread_with_messages):
    thread_id, _ = thread_with_messages
    response = alice_api.get(f"threads/{thread_id}/messages", limit=25)
    assert len(ids(response)) == 25
    assert response.json()["has_more"] is False


def test_it_accepts_the_limit_bounds(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    assert ids(alice_api.get(f"threads/{thread_id}/messages", limit=1)) == [messages[-1]]
    assert len(ids(alice_api.get(f"threads/{thread_id}/messages", limit=100))) == 25


def test_it_gives_an_empty_page_with_null_ids(alice_api, thread_with_messages):
    thread_id, messages = thread_with_messages
    body = alice_api.get(f"threads/{thread_id}/messages", after=messages[0]).json()
    assert body == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "newest"}, "order"),
        ({"after": "x" * 65}, "after"),
        ({"page": 2}, "page"),
    ],
)
def test_it_rejects_bad_list_parameters(alice_api, thread_with_messages, query, param):
    thread_id, _ = thread_with_messages
    response = alice_api.get(f"threads/{thread_id}/messages", **query)
    assert response.status_code == 400
    assert error_of(response)["param"] == param
