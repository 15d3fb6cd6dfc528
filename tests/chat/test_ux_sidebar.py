"""The chat page's conversation list: yours only, newest first, searchable, archivable, with "New chat"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assistants.models import Assistant
from chat.models import Conversation, Message
from core.preferences import Preference

pytestmark = pytest.mark.django_db


@pytest.fixture
def chats(alice, demo_assistant):
    now = timezone.now()
    made = []
    for age, title in enumerate(("Newest", "Middle", "Oldest")):
        chat = Conversation.objects.create(owner=alice, assistant=demo_assistant, title=title)
        Conversation.objects.filter(pk=chat.pk).update(updated_at=now - timedelta(hours=age))
        made.append(chat)
    return made


def _detail(client, user, chat: Conversation, **query: str) -> str:
    client.force_login(user)
    return client.get(reverse("chat:conversation_detail", args=[chat.pk]), query).content.decode()


def _sidebar(page: str) -> list[str]:
    listing = page.split('id="sidebar-list"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<a href="/conversations/[^"]+/"[^>]*>([^<]+)</a>', listing)


def test_it_lists_your_conversations_newest_first(client, alice, bob, chats, demo_assistant):
    Conversation.objects.create(owner=bob, assistant=demo_assistant, title="Bob's")
    archived = Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Put away")
    archived.archived_at = timezone.now()
    archived.save()

    page = _detail(client, alice, chats[1])

    assert _sidebar(page) == ["Newest", "Middle", "Oldest"]


def test_it_marks_the_conversation_you_are_in(client, alice, chats):
    page = _detail(client, alice, chats[1])

    assert re.search(rf'<a href="/conversations/{chats[1].pk}/" aria-current="page"', page)
    assert page.count('aria-current="page"') == 1


def test_it_searches_titles_and_messages(client, alice, chats):
    Message.objects.create(conversation=chats[2], role="user", content="a question about penguins")

    assert _sidebar(_detail(client, alice, chats[0], q="penguin")) == ["Oldest"]
    assert _sidebar(_detail(client, alice, chats[0], q="midd")) == ["Middle"]
    assert "No conversation matches “nothing like it”." in _detail(client, alice, chats[0], q="nothing like it")


def test_it_archives_from_the_list_and_comes_back_to_the_same_page(client, alice, chats):
    client.force_login(alice)
    here = reverse("chat:conversation_detail", args=[chats[0].pk])

    response = client.post(reverse("chat:conversation_archive", args=[chats[2].pk]), {"next": here})

    assert response.status_code == 302 and response.url == here
    chats[2].refresh_from_db()
    assert chats[2].archived_at is not None
    assert _sidebar(_detail(client, alice, chats[0])) == ["Newest", "Middle"]


def test_it_never_sends_you_off_the_site_after_archiving(client, alice, chats):
    client.force_login(alice)

    response = client.post(reverse("chat:conversation_archive", args=[chats[2].pk]), {"next": "https://evil.test/"})

    assert response.url == reverse("chat:conversation_list")


def test_it_cannot_archive_another_users_conversation_from_the_list(client, bob, chats):
    client.force_login(bob)
    here = reverse("chat:conversation_detail", args=[chats[0].pk])

    response = client.post(reverse("chat:conversation_archive", args=[chats[0].pk]), {"next": here})

    assert response.status_code == 404
    chats[0].refresh_from_db()
    assert chats[0].archived_at is None


def test_it_starts_a_new_chat_with_your_default_assistant(client, alice, chats, offline_provider):
    first = Assistant.objects.create(name="A first by name", provider=offline_provider, owner=alice)
    chosen = Assistant.objects.create(name="Chosen", provider=offline_provider, owner=alice)

    before = _detail(client, alice, chats[0]).split('id="new-chat-form"', 1)[1].split("</form>", 1)[0]
    Preference.objects.create(user=alice, default_assistant=chosen)
    after = _detail(client, alice, chats[0]).split('id="new-chat-form"', 1)[1].split("</form>", 1)[0]

    assert f'name="assistant" value="{first.pk}"' in before
    assert f'name="assistant" value="{chosen.pk}"' in after and "New chat with Chosen" in after


def test_it_lists_the_keyboard_shortcuts_in_a_dialog(client, alice, chats):
    page = _detail(client, alice, chats[0])

    dialog = page.split('<dialog id="shortcuts"', 1)[1].split("</dialog>", 1)[0]
    for action in ("New chat", "Focus the message box", "Stop the answer", "Search conversations"):
        assert f"<dd>{action}</dd>" in dialog


def test_it_folds_the_site_links_into_a_menu_for_phones(client, alice, chats):
    page = _detail(client, alice, chats[0])

    header = page.split("<header", 1)[1].split("</header>", 1)[0]
    assert '<details class="site-menu">' in header
    assert header.count(">Assistants</a>") == 2  # one in the header, one in the menu; CSS shows one


def test_it_heads_the_list_by_when_each_conversation_was_last_active(client, alice, demo_assistant):
    now = timezone.now()
    for days, title in ((0, "Now"), (1, "A day ago"), (3, "Days ago"), (10, "Weeks ago"), (60, "Months ago")):
        chat = Conversation.objects.create(owner=alice, assistant=demo_assistant, title=title)
        Conversation.objects.filter(pk=chat.pk).update(updated_at=now - timedelta(days=days))

    page = _detail(client, alice, Conversation.objects.get(title="Now"))

    listing = page.split('id="sidebar-list"', 1)[1].split("</ul>", 1)[0]
    shown = re.findall(
        r'sidebar-group" role="presentation">([^<]+)<|<a href="/conversations/[^"]+/"[^>]*>([^<]+)</a>', listing
    )
    assert [group or title for group, title in shown] == [
        "Today", "Now", "Yesterday", "A day ago", "Previous 7 days", "Days ago",
        "Previous 30 days", "Weeks ago", "Older", "Months ago",
    ]  # fmt: skip


def test_it_remembers_a_folded_list_on_the_server(client, alice, bob, chats):
    client.force_login(alice)

    response = client.post(reverse("core:sidebar_set"), {"collapsed": "1"})

    assert response.status_code == 204
    assert '<div class="chat-layout sidebar-collapsed"' in _detail(client, alice, chats[0])
    client.post(reverse("core:sidebar_set"), {"collapsed": "0"})
    assert '<div class="chat-layout" id="chat-layout"' in _detail(client, alice, chats[0])


def test_it_folds_the_list_only_through_a_logged_in_post(client, alice):
    assert client.post(reverse("core:sidebar_set"), {"collapsed": "1"}).status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get(reverse("core:sidebar_set")).status_code == 405
    assert not Preference.objects.filter(sidebar_collapsed=True).exists()
