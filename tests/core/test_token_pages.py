from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from core.models import ApiToken
from core.tokens import token_authenticate, token_create

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"sb_[A-Za-z0-9_-]{20,}")


def test_it_redirects_anonymous_users_to_login(client, alice):
    token, _ = token_create(user=alice, name="script")
    for response in (
        client.get(reverse("core:token_list")),
        client.post(reverse("core:token_revoke", args=[token.pk])),
    ):
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_shows_a_new_token_once(client, alice):
    client.force_login(alice)
    response = client.post(reverse("core:token_list"), {"name": "backup script", "expires_in_days": "30"}, follow=True)
    raw = TOKEN_RE.search(response.content.decode()).group(0)
    assert token_authenticate(raw) == alice
    token = ApiToken.objects.get(user=alice)
    assert (token.name, token.expires_at is not None) == ("backup script", True)
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert "no-store" in response["Cache-Control"]
    assert raw not in client.get(reverse("core:token_list")).content.decode()


def test_it_redirects_after_creating_a_token_so_a_reload_makes_no_other(client, alice):
    client.force_login(alice)
    response = client.post(reverse("core:token_list"), {"name": "backup script", "expires_in_days": ""})
    assert response.status_code == 302 and response["Location"] == reverse("core:token_list")
    assert TOKEN_RE.search(response.content.decode()) is None  # the value is not in the POST's answer
    shown = client.get(reverse("core:token_list"))
    assert TOKEN_RE.search(shown.content.decode()) is not None
    reloaded = client.get(reverse("core:token_list"))
    assert TOKEN_RE.search(reloaded.content.decode()) is None
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_it_shows_a_new_token_only_to_its_owner_session(client, alice, bob):
    client.force_login(alice)
    client.post(reverse("core:token_list"), {"name": "mine"})
    other = Client()
    other.force_login(bob)
    assert TOKEN_RE.search(other.get(reverse("core:token_list")).content.decode()) is None
    assert TOKEN_RE.search(client.get(reverse("core:token_list")).content.decode()) is not None


def test_it_lists_only_your_tokens(client, alice, bob):
    token_create(user=alice, name="alice-laptop")
    token_create(user=bob, name="bob-server")
    client.force_login(alice)
    page = client.get(reverse("core:token_list")).content.decode()
    assert "alice-laptop" in page
    assert "bob-server" not in page


def test_it_revokes_a_token(client, alice):
    token, raw = token_create(user=alice, name="old")
    client.force_login(alice)
    response = client.post(reverse("core:token_revoke", args=[token.pk]), follow=True)
    assert "Revoked old." in response.content.decode()
    assert token_authenticate(raw) is None


def test_it_hides_another_users_token(client, alice, bob):
    token, raw = token_create(user=alice, name="alice-laptop")
    client.force_login(bob)
    assert client.post(reverse("core:token_revoke", args=[token.pk])).status_code == 404
    assert token_authenticate(raw) == alice


def test_it_asks_before_revoking_a_token(client, alice):
    token, raw = token_create(user=alice, name="old")
    client.force_login(alice)
    listed = client.get(reverse("core:token_list")).content.decode()
    assert f'href="{reverse("core:token_revoke", args=[token.pk])}"' in listed
    page = client.get(reverse("core:token_revoke", args=[token.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Revoke the token “old”?" in text and 'method="post"' in text
    assert f'href="{reverse("core:token_list")}"' in text  # Cancel goes back
    assert token_authenticate(raw) == alice


def test_it_hides_the_revoke_page_of_another_users_token(client, alice, bob):
    token, _ = token_create(user=alice, name="alice-laptop")
    client.force_login(bob)
    assert client.get(reverse("core:token_revoke", args=[token.pk])).status_code == 404


def test_it_shows_form_errors_next_to_their_fields(client, alice):
    client.force_login(alice)
    response = client.post(reverse("core:token_list"), {"name": "", "expires_in_days": "0"})
    page = response.content.decode()
    assert '<ul class="errorlist" id="id_name_error">' in page
    assert '<ul class="errorlist" id="id_expires_in_days_error">' in page
    assert not ApiToken.objects.exists()


def test_it_rejects_posts_without_a_csrf_token(alice):
    token, raw = token_create(user=alice, name="old")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("core:token_list"), {"name": "new"}).status_code == 403
    assert client.post(reverse("core:token_revoke", args=[token.pk])).status_code == 403
    assert ApiToken.objects.count() == 1
    assert token_authenticate(raw) == alice


def test_it_keeps_the_waiting_token_encrypted_in_the_session(client, alice):
    client.force_login(alice)
    client.post(reverse("core:token_list"), {"name": "backup"})
    stored = str(client.session.get("token_created"))
    assert "sb_" not in stored
    assert TOKEN_RE.search(client.get(reverse("core:token_list")).content.decode()) is not None


def test_it_no_longer_shows_a_token_left_waiting_too_long(client, alice, monkeypatch):
    client.force_login(alice)
    client.post(reverse("core:token_list"), {"name": "backup"})
    monkeypatch.setattr("core.tokens.REVEAL_WITHIN", -1)
    assert TOKEN_RE.search(client.get(reverse("core:token_list")).content.decode()) is None
    assert "backup" in client.get(reverse("core:token_list")).content.decode()  # the token itself is listed
