from __future__ import annotations

import pytest
from django.urls import reverse

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
