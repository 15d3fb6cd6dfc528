"""The account page: change the password, see and end sessions, sign out everywhere, see API tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import AuditEntry, UserSession
from core.tokens import token_create

pytestmark = pytest.mark.django_db

ACCOUNT = "/settings/"


def _signed_in(user, agent: str = "Browser A") -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    response = client.post("/accounts/login/", {"username": user.username, "password": f"{user.username}-password-1"})
    assert response.status_code == 302
    return client


def _change(old: str, new: str) -> dict[str, str]:
    return {"old_password": old, "new_password1": new, "new_password2": new}


def _works(client: Client) -> bool:
    return client.get(ACCOUNT).status_code == 200


def test_it_sends_visitors_to_the_login_page(client):
    response = client.get(ACCOUNT)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_lists_the_users_own_sessions_and_tokens(alice, bob):
    first, _second = _signed_in(alice, "Browser A"), _signed_in(alice, "Browser B")
    _signed_in(bob, "Bob's browser")
    token_create(user=alice, name="backup script")
    page = first.get(ACCOUNT).content.decode()
    assert "Browser A" in page and "Browser B" in page and "Bob's browser" not in page
    assert "this session" in page
    assert "backup script" in page


def test_it_changes_the_password_and_signs_out_the_other_sessions(alice):
    here, elsewhere = _signed_in(alice), _signed_in(alice, "Browser B")
    response = here.post(ACCOUNT, _change("alice-password-1", "a-new-long-secret-7"))
    assert response.status_code == 302
    assert _works(here) and not _works(elsewhere)
    alice.refresh_from_db()
    assert alice.check_password("a-new-long-secret-7")
    assert AuditEntry.objects.filter(action="changed", details__fields=["password"]).exists()


def test_it_refuses_a_wrong_old_password(alice):
    here = _signed_in(alice)
    response = here.post(ACCOUNT, _change("nope", "x-long-secret-1"))
    assert response.status_code == 200 and b"old password was entered incorrectly" in response.content
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1")


def test_it_ends_one_other_session(alice):
    here, elsewhere = _signed_in(alice), _signed_in(alice, "Browser B")
    other = UserSession.objects.get(user_agent="Browser B")
    assert here.post(f"/settings/sessions/{other.pk}/end").status_code == 302
    assert _works(here) and not _works(elsewhere)


def test_it_will_not_end_another_users_session(alice, bob):
    _signed_in(bob)
    bobs = UserSession.objects.get(user=bob)
    assert _signed_in(alice).post(f"/settings/sessions/{bobs.pk}/end").status_code == 404
    assert UserSession.objects.filter(pk=bobs.pk).exists()


def test_it_signs_out_everywhere(alice, bob):
    here, elsewhere, bobs = _signed_in(alice), _signed_in(alice, "Browser B"), _signed_in(bob)
    response = here.post("/settings/sessions/end-all")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not _works(here) and not _works(elsewhere)
    assert _works(bobs)
    assert not UserSession.objects.filter(user=alice).exists()


def test_it_asks_before_ending_a_session(alice):
    here, elsewhere = _signed_in(alice), _signed_in(alice, "Browser B")
    other = UserSession.objects.get(user_agent="Browser B")
    page = here.get("/settings/")
    assert f'href="/settings/sessions/{other.pk}/end"' in page.content.decode()
    confirm = here.get(f"/settings/sessions/{other.pk}/end")
    assert confirm.status_code == 200 and "Sign out this session?" in confirm.content.decode()
    assert _works(elsewhere)


def test_it_asks_before_signing_out_everywhere(alice):
    here = _signed_in(alice)
    assert 'href="/settings/sessions/end-all"' in here.get("/settings/").content.decode()
    confirm = here.get("/settings/sessions/end-all")
    assert confirm.status_code == 200 and "Sign out everywhere?" in confirm.content.decode()
    assert _works(here)


def test_it_forgets_a_session_on_logout(alice):
    here = _signed_in(alice)
    here.post("/accounts/logout/")
    assert not UserSession.objects.filter(user=alice).exists()
