"""Preferences: the theme each user picks (system, light, dark), the assistant "New chat" starts with, and the
site default an admin sets for everyone who picked none."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assistants.models import Assistant
from chat.models import Conversation
from core.preferences import Preference, SiteDefault

pytestmark = pytest.mark.django_db


@pytest.fixture
def assistants(offline_provider, demo_assistant):
    # Shared assistants (no owner), visible to everyone; "Alpha" comes first by name.
    alpha = Assistant.objects.create(name="Alpha", provider=offline_provider)
    zulu = Assistant.objects.create(name="Zulu", provider=offline_provider)
    return {"alpha": alpha, "demo": demo_assistant, "zulu": zulu}


def _theme(client) -> str:
    return re.search(r'<html lang="en" data-theme="(\w+)">', client.get(reverse("core:account")).content.decode())[1]


def _new_chat_assistant(client) -> str:
    response = client.post(reverse("chat:conversation_create"))
    assert response.status_code == 302
    return Conversation.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1]).assistant.name


def test_it_follows_the_system_theme_until_the_user_picks_one(client, alice):
    client.force_login(alice)

    assert _theme(client) == "system"


def test_it_remembers_the_theme_a_user_picks_on_the_server(client, alice, bob):
    client.force_login(alice)
    here = reverse("core:token_list")

    response = client.post(reverse("core:theme_set"), {"theme": "dark", "next": here})

    assert response.status_code == 302 and response.url == here
    assert _theme(client) == "dark"
    client.force_login(bob)
    assert _theme(client) == "system"  # one user's choice is theirs only


def test_it_ignores_an_unknown_theme_and_an_offsite_next(client, alice):
    client.force_login(alice)

    response = client.post(reverse("core:theme_set"), {"theme": "neon", "next": "https://evil.test/"})

    assert response.url == reverse("chat:conversation_list")
    assert _theme(client) == "system"


def test_it_asks_anonymous_users_to_log_in_before_changing_a_theme(client):
    response = client.post(reverse("core:theme_set"), {"theme": "dark"})

    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not Preference.objects.exists()


def test_it_shows_the_theme_switch_with_the_current_theme_pressed(client, alice):
    client.force_login(alice)
    client.post(reverse("core:theme_set"), {"theme": "light"})

    page = client.get(reverse("chat:conversation_list")).content.decode()

    assert re.search(r'name="theme" value="light" aria-pressed="true"', page)
    assert re.search(r'name="theme" value="dark" aria-pressed="false"', page)


def test_it_starts_a_new_chat_with_the_first_assistant_by_name_when_no_default_is_set(client, alice, assistants):
    client.force_login(alice)

    assert _new_chat_assistant(client) == "Alpha"


def test_it_starts_a_new_chat_with_the_sites_default(client, alice, assistants):
    SiteDefault.objects.create(default_assistant=assistants["zulu"])
    client.force_login(alice)

    assert _new_chat_assistant(client) == "Zulu"


def test_it_starts_a_new_chat_with_the_users_own_default_before_the_sites(client, alice, assistants):
    SiteDefault.objects.create(default_assistant=assistants["zulu"])
    client.force_login(alice)

    response = client.post(reverse("core:preferences"), {"theme": "system", "default_assistant": assistants["demo"].pk})

    assert response.status_code == 302
    assert _new_chat_assistant(client) == "Demo assistant"
    page = client.get(reverse("chat:conversation_list")).content.decode()
    assert f'<option value="{assistants["demo"].pk}" selected>' in page


def test_it_refuses_another_users_assistant_as_a_default(client, alice, bob, assistants, offline_provider):
    private = Assistant.objects.create(name="Bob's own", provider=offline_provider, owner=bob)
    client.force_login(alice)

    client.post(reverse("core:preferences"), {"theme": "system", "default_assistant": private.pk}, follow=True)

    assert not Preference.objects.filter(user=alice, default_assistant=private).exists()
    assert _new_chat_assistant(client) == "Alpha"


def test_it_falls_back_when_the_default_is_no_longer_usable(client, alice, bob, assistants, offline_provider):
    mine = Assistant.objects.create(name="Mine", provider=offline_provider, owner=alice)
    Preference.objects.create(user=alice, default_assistant=mine)
    Assistant.objects.filter(pk=mine.pk).update(owner=bob)  # handed over: alice may no longer use it
    client.force_login(alice)

    assert _new_chat_assistant(client) == "Alpha"


def test_it_shows_password_and_preferences_on_the_settings_page(client, alice, assistants):
    client.force_login(alice)

    page = client.get(reverse("core:account")).content.decode()

    assert 'id="preferences"' in page and 'id="password"' in page
    assert '<option value="" selected>The site&#x27;s default</option>' in page
    assert 'name="theme" value="system"' in page and "checked" in page.split('id="preferences"')[1]


def test_it_lets_only_superusers_set_the_site_default(client, charlie, admin_client):
    charlie.is_staff = True
    charlie.save()
    url = reverse("admin:core_sitedefault_changelist")

    assert admin_client.get(url).status_code == 200
    client.force_login(charlie)
    assert client.get(url).status_code == 403
