from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from assistants.models import Assistant
from chat.models import Conversation, Message, RunStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Alice's chat")


def test_it_redirects_anonymous_users_to_login(client, conversation):
    for url in (reverse("chat:conversation_list"), reverse("chat:conversation_detail", args=[conversation.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_it_lists_only_your_own_conversations(client, alice, bob, conversation):
    Conversation.objects.create(owner=bob, assistant=conversation.assistant, title="Bob's secret chat")
    client.force_login(alice)
    page = client.get(reverse("chat:conversation_list")).content.decode()
    assert "Alice&#x27;s chat" in page
    assert "Bob&#x27;s secret chat" not in page


def test_it_hides_another_users_conversation(client, bob, conversation):
    client.force_login(bob)
    assert client.get(reverse("chat:conversation_detail", args=[conversation.pk])).status_code == 404
    assert "Alice" not in client.get(reverse("chat:conversation_list")).content.decode()


def test_it_starts_a_conversation_with_a_usable_assistant(client, alice, demo_assistant):
    client.force_login(alice)
    response = client.post(reverse("chat:conversation_create"), {"assistant": demo_assistant.pk})
    conversation = Conversation.objects.get(owner=alice)
    assert response.status_code == 302
    assert response.url == reverse("chat:conversation_detail", args=[conversation.pk])


def test_it_refuses_another_users_private_assistant(client, alice, bob, offline_provider):
    private = Assistant.objects.create(name="Bob's", owner=bob, provider=offline_provider)
    client.force_login(alice)
    response = client.post(reverse("chat:conversation_create"), {"assistant": private.pk}, follow=True)
    assert not Conversation.objects.filter(owner=alice).exists()
    assert "No assistant found" in response.content.decode()


def test_it_renders_history_with_tool_cards_and_inert_html(client, alice, conversation):
    Message.objects.create(conversation=conversation, role="user", content="<img src=x onerror=alert(1)>")
    run = conversation.runs.create(assistant=conversation.assistant, status="completed")
    RunStep.objects.create(
        run=run, type="tool_calls", status="completed", tool_name="draw_dot", server_name="demo",
        tool_call_id="call_1", arguments="{}", output="<script>alert(2)</script>",
    )  # fmt: skip
    Message.objects.create(conversation=conversation, role="assistant", content="**Done** <b>x</b>", run=run)
    client.force_login(alice)
    page = client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<strong>Done</strong>" in page and "<b>x</b>" not in page
    assert 'class="tool-name">draw_dot<' in page


def test_it_serves_health_and_static_files(client):
    assert client.get("/health/").json() == {"status": "ok"}


# --- Rename, archive, delete, search, pagination, export ---------------------------------------------------------


def _url(name: str, conversation: Conversation) -> str:
    return reverse(f"chat:{name}", args=[conversation.pk])


OWNER_ONLY = [
    ("get", "conversation_rename"),
    ("post", "conversation_rename"),
    ("post", "conversation_archive"),
    ("post", "conversation_unarchive"),
    ("get", "conversation_delete"),
    ("post", "conversation_delete"),
    ("get", "export_md"),
    ("get", "export_json"),
]


@pytest.mark.parametrize(("method", "name"), OWNER_ONLY)
def test_it_answers_404_to_another_user_and_changes_nothing(client, bob, conversation, method, name):
    client.force_login(bob)
    response = getattr(client, method)(_url(name, conversation), {"title": "Bob was here"})
    assert response.status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == "Alice's chat"
    assert conversation.archived_at is None


@pytest.mark.parametrize("name", ["conversation_archive", "conversation_unarchive"])
def test_it_archives_only_through_post(client, alice, conversation, name):
    client.force_login(alice)
    assert client.get(_url(name, conversation)).status_code == 405


def test_it_renames_a_conversation_without_moving_it_up_the_list(client, alice, conversation):
    before = conversation.updated_at
    client.force_login(alice)
    response = client.post(_url("conversation_rename", conversation), {"title": "  Trip   plans "})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans"
    assert conversation.updated_at == before


def test_it_refuses_an_empty_title(client, alice, conversation):
    client.force_login(alice)
    response = client.post(_url("conversation_rename", conversation), {"title": "   "})
    assert response.status_code == 400
    assert "must not be empty" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.title == "Alice's chat"


def test_it_hides_archived_conversations_unless_asked(client, alice, conversation):
    client.force_login(alice)
    client.post(_url("conversation_archive", conversation))
    assert list(client.get(reverse("chat:conversation_list")).context["page"]) == []
    archived = client.get(reverse("chat:conversation_list"), {"archived": "1"})
    assert list(archived.context["page"]) == [conversation]
    assert "Unarchive" in archived.content.decode()


def test_it_unarchives_a_conversation(client, alice, conversation):
    client.force_login(alice)
    client.post(_url("conversation_archive", conversation))
    client.post(_url("conversation_unarchive", conversation))
    conversation.refresh_from_db()
    assert conversation.archived_at is None
    assert list(client.get(reverse("chat:conversation_list")).context["page"]) == [conversation]


def test_it_asks_before_deleting(client, alice, conversation):
    client.force_login(alice)
    page = client.get(_url("conversation_delete", conversation)).content.decode()
    assert "Delete “Alice&#x27;s chat”?" in page and 'method="post"' in page
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_it_deletes_a_conversation_on_post(client, alice, conversation):
    Message.objects.create(conversation=conversation, role="user", content="bye")
    client.force_login(alice)
    response = client.post(_url("conversation_delete", conversation))
    assert response.status_code == 302 and response.url == reverse("chat:conversation_list")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(content="bye").exists()


def test_it_refuses_to_delete_while_an_answer_is_running(client, alice, conversation):
    conversation.runs.create(assistant=conversation.assistant, status="in_progress", heartbeat_at=timezone.now())
    client.force_login(alice)
    response = client.post(_url("conversation_delete", conversation), follow=True)
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert "active run" in response.content.decode()


def test_it_searches_titles_and_message_text_of_your_own_conversations(client, alice, bob, conversation):
    other = Conversation.objects.create(owner=alice, assistant=conversation.assistant, title="Groceries")
    Message.objects.create(conversation=other, role="assistant", content="Buy more Pumpernickel bread")
    bobs = Conversation.objects.create(owner=bob, assistant=conversation.assistant, title="Bob's pumpernickel")
    Message.objects.create(conversation=bobs, role="user", content="pumpernickel")
    client.force_login(alice)

    by_text = client.get(reverse("chat:conversation_list"), {"q": "pumpernickel"}).content.decode()
    assert "Groceries" in by_text and "Alice&#x27;s chat" not in by_text and "Bob" not in by_text
    by_title = client.get(reverse("chat:conversation_list"), {"q": "alice"}).content.decode()
    assert "Alice&#x27;s chat" in by_title and "Groceries" not in by_title


def test_it_pages_conversations_newest_activity_first_with_the_assistant_name(client, alice, demo_assistant):
    for number in range(25):
        Conversation.objects.create(owner=alice, assistant=demo_assistant, title=f"Chat {number:02}")
    client.force_login(alice)

    first = client.get(reverse("chat:conversation_list"))
    second = client.get(reverse("chat:conversation_list"), {"page": "2"})

    titles = [c.title for c in first.context["page"].object_list]
    assert titles[:2] == ["Chat 24", "Chat 23"] and len(titles) == 20
    assert [c.title for c in second.context["page"].object_list] == [f"Chat {n:02}" for n in range(4, -1, -1)]
    assert first.content.decode().count('class="conversation-assistant">Demo assistant<') == 20
    assert "Page 1 of 2" in first.content.decode()


@pytest.fixture
def finished_turn(conversation):
    run = conversation.runs.create(assistant=conversation.assistant, status="completed", total_tokens=7)
    Message.objects.create(conversation=conversation, role="user", content="Draw a dot", run=run)
    RunStep.objects.create(
        run=run, type="tool_calls", status="completed", tool_name="draw_dot", server_name="demo",
        tool_call_id="call_1", arguments='{"size": 2}', output="*", duration_ms=12,
    )  # fmt: skip
    Message.objects.create(conversation=conversation, role="assistant", content="Here: `*`", run=run)
    return run


def test_it_exports_a_conversation_as_markdown(client, alice, conversation, finished_turn):
    client.force_login(alice)
    response = client.get(_url("export_md", conversation))
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Alice\'s chat.md"'
    text = response.content.decode()
    assert text.startswith("# Alice's chat\n")
    assert "## You\n\nDraw a dot" in text
    assert '### Tool call `draw_dot` on `demo` (completed, 12 ms)\n\n```json\n{\n  "size": 2\n}\n```' in text
    assert "Result:\n\n```text\n*\n```" in text
    assert text.index("Draw a dot") < text.index("draw_dot") < text.index("Here: `*`")


def test_it_exports_a_conversation_as_json(client, alice, conversation, finished_turn):
    client.force_login(alice)
    response = client.get(_url("export_json", conversation))
    assert response["Content-Disposition"] == 'attachment; filename="Alice\'s chat.json"'
    data = response.json()
    assert data["thread"]["id"] == conversation.pk and data["thread"]["title"] == "Alice's chat"
    assert [(m["role"], m["content"][0]["text"]["value"]) for m in data["messages"]] == [
        ("user", "Draw a dot"),
        ("assistant", "Here: `*`"),
    ]
    assert [r["id"] for r in data["runs"]] == [finished_turn.pk]
    [tool_step] = [s for s in data["run_steps"] if s["type"] == "tool_calls"]
    assert tool_step["step_details"]["tool_calls"][0]["function"] == {
        "name": "draw_dot",
        "arguments": '{"size": 2}',
        "output": "*",
    }


def test_it_renders_the_chat_page_without_inline_script_or_style(client, alice, conversation, finished_turn):
    client.force_login(alice)
    page = client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None
    assert re.search(r"\sstyle=|\son[a-z]+=", page) is None
    assert 'aria-live="polite"' in page
