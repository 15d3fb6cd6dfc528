"""Threads and messages: create, retrieve, modify, delete, list, scoped to the token's user."""

from __future__ import annotations

import pytest

from chat.models import Conversation, Message, Run
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread(alice_api) -> dict:
    body = {"messages": [{"role": "user", "content": "hello"}], "metadata": {"k": "v"}}
    return alice_api.post("threads", body).json()


def test_it_creates_a_thread_with_initial_messages(alice_api, alice):
    response = alice_api.post(
        "threads",
        {
            "messages": [
                {"role": "user", "content": "first", "metadata": {"n": "1"}},
                {"role": "assistant", "content": [{"type": "text", "text": "second"}], "attachments": []},
            ],
            "metadata": {"project": "x"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "thread" and body["id"].startswith("thread_")
    assert body["metadata"] == {"project": "x"} and body["tool_resources"] == {}
    conversation = Conversation.objects.get(pk=body["id"], owner=alice)
    stored = [(m.role, m.content, m.metadata) for m in conversation.messages.order_by("id")]
    assert stored == [("user", "first", {"n": "1"}), ("assistant", "second", {})]


def test_it_creates_an_empty_thread_from_an_empty_body(alice_api):
    response = alice_api.post("threads")
    assert response.status_code == 200
    assert response.json()["metadata"] == {}


def test_it_names_the_bad_field_of_an_initial_message(alice_api):
    response = alice_api.post("threads", {"messages": [{"role": "user", "content": "ok", "colour": "red"}]})
    assert response.status_code == 400
    assert error_of(response)["param"] == "messages[0].colour"
    assert not Conversation.objects.exists()


def test_it_refuses_image_content(alice_api):
    response = alice_api.post(
        "threads", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "messages[0].content[0]"


def test_it_refuses_an_attachment_that_is_not_the_users_file(alice_api):
    response = alice_api.post(
        "threads", {"messages": [{"role": "user", "content": "x", "attachments": [{"file_id": "file_1"}]}]}
    )
    assert response.status_code == 404
    assert error_of(response)["message"] == "No file found with id 'file_1'."
    assert not Conversation.objects.exists()


def test_it_retrieves_a_thread(alice_api, thread):
    response = alice_api.get(f"threads/{thread['id']}")
    assert response.status_code == 200
    assert response.json() == thread


def test_it_hides_another_users_thread(bob_api, thread):
    for response in (
        bob_api.get(f"threads/{thread['id']}"),
        bob_api.post(f"threads/{thread['id']}", {"metadata": {}}),
        bob_api.delete(f"threads/{thread['id']}"),
        bob_api.get(f"threads/{thread['id']}/messages"),
        bob_api.post(f"threads/{thread['id']}/messages", {"role": "user", "content": "hi"}),
    ):
        assert response.status_code == 404
        assert error_of(response)["type"] == "invalid_request_error"
    assert Conversation.objects.filter(pk=thread["id"]).exists()
    assert Message.objects.count() == 1


def test_it_modifies_a_threads_metadata(alice_api, thread):
    response = alice_api.post(f"threads/{thread['id']}", {"metadata": {"a": "b"}})
    assert response.status_code == 200
    assert response.json()["metadata"] == {"a": "b"}
    assert Conversation.objects.get(pk=thread["id"]).metadata == {"a": "b"}


def test_it_rejects_metadata_over_openai_limits(alice_api, thread):
    response = alice_api.post(f"threads/{thread['id']}", {"metadata": {f"k{i}": "v" for i in range(17)}})
    assert response.status_code == 400
    assert error_of(response)["param"] == "metadata"


def test_it_deletes_a_thread(alice_api, thread):
    response = alice_api.delete(f"threads/{thread['id']}")
    assert response.json() == {"id": thread["id"], "object": "thread.deleted", "deleted": True}
    assert alice_api.get(f"threads/{thread['id']}").status_code == 404


def test_it_refuses_to_delete_a_thread_with_an_active_run(alice_api, thread, demo_assistant):
    Run.objects.create(conversation_id=thread["id"], assistant=demo_assistant)
    response = alice_api.delete(f"threads/{thread['id']}")
    assert response.status_code == 409
    assert error_of(response)["code"] == "run_active"


def test_it_deletes_a_message(alice_api, bob_api, thread):
    (message,) = alice_api.get(f"threads/{thread['id']}/messages").json()["data"]
    url = f"threads/{thread['id']}/messages/{message['id']}"
    assert bob_api.delete(url).status_code == 404  # another user's message is not there
    response = alice_api.delete(url)
    assert response.json() == {"id": message["id"], "object": "thread.message.deleted", "deleted": True}
    assert alice_api.get(url).status_code == 404
    assert alice_api.delete(url).status_code == 404


def test_it_refuses_to_delete_a_message_while_a_run_is_active(alice_api, thread, demo_assistant):
    (message,) = alice_api.get(f"threads/{thread['id']}/messages").json()["data"]
    Run.objects.create(conversation_id=thread["id"], assistant=demo_assistant)
    response = alice_api.delete(f"threads/{thread['id']}/messages/{message['id']}")
    assert response.status_code == 409
    assert Message.objects.filter(pk=message["id"]).exists()


def test_it_adds_a_message(alice_api, thread):
    response = alice_api.post(
        f"threads/{thread['id']}/messages", {"role": "user", "content": "more", "metadata": {"k": "v"}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "thread.message" and body["thread_id"] == thread["id"]
    assert body["content"] == [{"type": "text", "text": {"value": "more", "annotations": []}}]
    assert (body["role"], body["metadata"], body["run_id"]) == ("user", {"k": "v"}, None)
    assert not Run.objects.exists()


def test_it_refuses_a_message_while_a_run_is_active(alice_api, thread, demo_assistant):
    Run.objects.create(conversation_id=thread["id"], assistant=demo_assistant)
    response = alice_api.post(f"threads/{thread['id']}/messages", {"role": "user", "content": "more"})
    assert response.status_code == 409
    assert error_of(response)["code"] == "run_active"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"content": "x"}, "role"),
        ({"role": "system", "content": "x"}, "role"),
        ({"role": "user"}, "content"),
        ({"role": "user", "content": ""}, "content"),
        ({"role": "user", "content": "x", "file_ids": []}, "file_ids"),
    ],
)
def test_it_names_the_bad_field_of_a_message(alice_api, thread, body, param):
    response = alice_api.post(f"threads/{thread['id']}/messages", body)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_it_lists_retrieves_and_modifies_messages(alice_api, thread):
    listed = alice_api.get(f"threads/{thread['id']}/messages").json()
    assert listed["object"] == "list" and len(listed["data"]) == 1
    message_id = listed["data"][0]["id"]
    assert alice_api.get(f"threads/{thread['id']}/messages/{message_id}").json() == listed["data"][0]
    modified = alice_api.post(f"threads/{thread['id']}/messages/{message_id}", {"metadata": {"seen": "yes"}})
    assert modified.json()["metadata"] == {"seen": "yes"}


def test_it_hides_another_users_message(alice_api, bob_api, thread):
    message_id = alice_api.get(f"threads/{thread['id']}/messages").json()["data"][0]["id"]
    assert bob_api.get(f"threads/{thread['id']}/messages/{message_id}").status_code == 404
    assert bob_api.post(f"threads/{thread['id']}/messages/{message_id}", {"metadata": {}}).status_code == 404


def test_it_filters_messages_by_run(alice_api, thread, demo_assistant):
    run = Run.objects.create(conversation_id=thread["id"], assistant=demo_assistant, status="completed")
    answer = Message.objects.create(conversation_id=thread["id"], role="assistant", content="a", run=run)
    listed = alice_api.get(f"threads/{thread['id']}/messages", run_id=run.pk).json()
    assert [m["id"] for m in listed["data"]] == [answer.pk]


def test_it_keeps_metadata_when_a_modify_leaves_it_out(alice_api, thread):
    response = alice_api.post(f"threads/{thread['id']}", {})
    assert response.json()["metadata"] == {"k": "v"}
