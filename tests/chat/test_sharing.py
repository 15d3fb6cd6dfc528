"""Read-only links to a conversation: the site switch, the owner's create and revoke, the page logged out."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistants.models import Assistant
from chat.models import Conversation, Message, Run, RunStep
from chat.sharing import share_create
from core.errors import ServiceError
from core.preferences import SiteDefault

pytestmark = pytest.mark.django_db


@pytest.fixture
def sharing_on(db):
    return SiteDefault.objects.create(sharing_enabled=True)


@pytest.fixture
def conversation(alice, demo_assistant):
    conversation = Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Worth sharing")
    question = Message.objects.create(conversation=conversation, role="user", content="What is 2 + 3?")
    run = Run.objects.create(
        conversation=conversation, assistant=demo_assistant, status="failed", last_error="at http://10.0.0.5:9000/mcp"
    )
    RunStep.objects.create(
        run=run,
        type="tool_calls",
        status="completed",
        tool_call_id="call_1",
        tool_name="add",
        server_name="internal-calculator",
        arguments='{"a": 2, "b": 3}',
        output="5",
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="It is **5**.",
        run=run,
        parent=question,
        metadata={"warning": "Skipped http://10.0.0.5:9000/mcp"},
    )
    return conversation


def _share(client, conversation, action="create"):
    return client.post(reverse("chat:conversation_share", args=[conversation.pk]), {"action": action})


def test_it_refuses_links_while_the_site_does_not_allow_them(client, alice, conversation):
    client.force_login(alice)

    _share(client, conversation)

    assert Conversation.objects.get(pk=conversation.pk).share_token is None
    page = client.get(reverse("chat:conversation_share", args=[conversation.pk])).content.decode()
    assert "turned off" in page
    assert (
        "Share by link" not in client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()
    )


def test_it_shows_the_shared_conversation_logged_out_without_controls_or_secrets(
    client, alice, conversation, sharing_on
):
    client.force_login(alice)
    _share(client, conversation)
    token = Conversation.objects.get(pk=conversation.pk).share_token
    assert token and len(token) >= 40
    assert token in client.get(reverse("chat:conversation_share", args=[conversation.pk])).content.decode()
    client.logout()

    response = client.get(reverse("chat:shared_conversation", args=[token]))

    page = response.content.decode()
    assert response.status_code == 200 and "Worth sharing" in page
    assert "What is 2 + 3?" in page and "<strong>5</strong>" in page
    assert "&quot;a&quot;: 2" in page  # tool arguments and results are fine to show
    for hidden in ("internal-calculator", "10.0.0.5", "Trace", "<button", "<form", "steps/", "/ws/"):
        assert hidden not in page, hidden
    assert response["X-Robots-Tag"] == "noindex"


def test_it_answers_404_once_the_link_is_revoked(client, alice, conversation, sharing_on):
    client.force_login(alice)
    _share(client, conversation)
    token = Conversation.objects.get(pk=conversation.pk).share_token

    _share(client, conversation, "revoke")
    client.logout()

    assert Conversation.objects.get(pk=conversation.pk).share_token is None
    assert client.get(reverse("chat:shared_conversation", args=[token])).status_code == 404


def test_it_answers_404_for_a_guessed_token_or_when_the_site_turns_sharing_off(client, alice, conversation, sharing_on):
    token = share_create(user=alice, conversation_id=conversation.pk).share_token
    assert client.get(reverse("chat:shared_conversation", args=["not-a-token"])).status_code == 404

    SiteDefault.objects.update(sharing_enabled=False)

    assert client.get(reverse("chat:shared_conversation", args=[token])).status_code == 404


def test_it_lets_only_the_owner_share_or_revoke(client, bob, alice, conversation, sharing_on):
    client.force_login(bob)

    assert _share(client, conversation).status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).share_token is None
    share_create(user=alice, conversation_id=conversation.pk)
    assert _share(client, conversation, "revoke").status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).share_token
    with pytest.raises(ServiceError) as refused:
        share_create(user=bob, conversation_id=conversation.pk)
    assert refused.value.code == "not_found"


def test_it_shows_the_branch_its_owner_shows(client, alice, conversation, sharing_on):
    first = Message.objects.get(conversation=conversation, role="user")
    edited = Message.objects.create(conversation=conversation, role="user", content="What is 3 + 4?", edited_from=first)
    conversation.current = edited
    conversation.save()
    token = share_create(user=alice, conversation_id=conversation.pk).share_token

    page = client.get(reverse("chat:shared_conversation", args=[token])).content.decode()

    assert "What is 3 + 4?" in page and "What is 2 + 3?" not in page and "version" not in page.lower()


def test_it_switches_the_assistant_from_the_chat_header(client, alice, bob, conversation, offline_provider):
    mine = Assistant.objects.create(name="Careful one", provider=offline_provider, owner=alice)
    theirs = Assistant.objects.create(name="Bob's", provider=offline_provider, owner=bob)
    client.force_login(alice)
    page = client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()
    assert "Careful one" in page and "Bob&#x27;s" not in page

    url = reverse("chat:conversation_assistant", args=[conversation.pk])
    client.post(url, {"assistant": theirs.pk})
    assert Conversation.objects.get(pk=conversation.pk).assistant_id == conversation.assistant_id
    client.post(url, {"assistant": mine.pk})
    assert Conversation.objects.get(pk=conversation.pk).assistant_id == mine.pk
    client.force_login(bob)
    assert client.post(url, {"assistant": theirs.pk}).status_code == 404


def test_it_lets_an_admin_allow_sharing_for_the_site(client, superuser, alice):
    client.force_login(superuser)

    response = client.post(reverse("admin:core_sitedefault_add"), {"sharing_enabled": "on", "default_assistant": ""})

    assert response.status_code == 302 and SiteDefault.objects.get().sharing_enabled
    assert "Sharing enabled" in client.get(reverse("admin:core_sitedefault_changelist")).content.decode()
    client.force_login(alice)
    assert client.get(reverse("admin:core_sitedefault_changelist")).status_code == 302
