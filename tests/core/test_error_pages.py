"""Error pages use the site's layout, say what the server said, and offer a way back; no inline style or script."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from core.models import ApiToken

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.error_urls")]


def _assert_site_page(response, status: int) -> str:
    assert response.status_code == status
    page = response.content.decode()
    assert 'class="topbar"' in page and "/static/app.css" in page  # the site's layout
    assert 'href="/"' in page  # a way back home
    # The CSP allows neither inline style nor inline script.
    assert not re.search(r"<style|style=|<script(?![^>]*\bsrc=)", page)
    return page


def test_it_shows_a_404_in_the_layout_with_the_views_message(client, alice):
    client.force_login(alice)
    page = _assert_site_page(client.get("/tests/missing/"), 404)
    assert "Page not found" in page and "No such widget here." in page
    assert "Log out alice" in page  # the signed-in navigation is there


def test_it_shows_a_404_for_an_unknown_address_without_the_resolvers_details(client, alice):
    client.force_login(alice)
    page = _assert_site_page(client.get("/no/such/page/"), 404)
    assert "Page not found" in page and "tried" not in page and "urlpatterns" not in page


def test_it_shows_a_403_with_the_reason(client, alice):
    client.force_login(alice)
    page = _assert_site_page(client.get("/tests/refused/"), 403)
    assert "Not allowed" in page and "Only the owner may open this widget." in page


def test_it_shows_a_500_without_the_failures_details(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    page = _assert_site_page(client.get("/tests/boom/"), 500)
    assert "Something went wrong" in page and "secret detail" not in page


def test_it_shows_a_refused_csrf_check_with_its_reason_and_changes_nothing(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = _assert_site_page(client.post("/settings/tokens/", {"name": "x"}), 403)
    assert "The form has expired" in page and "CSRF" in page  # Django's reason, e.g. "CSRF cookie not set."
    assert not ApiToken.objects.filter(user=alice).exists()


def test_it_links_back_to_the_page_the_visitor_came_from_on_this_site(client, alice):
    client.force_login(alice)
    page = _assert_site_page(client.get("/tests/missing/", headers={"referer": "http://testserver/assistants/"}), 404)
    assert 'href="http://testserver/assistants/"' in page
    elsewhere = client.get("/tests/missing/", headers={"referer": "https://evil.example/"}).content.decode()
    assert "evil.example" not in elsewhere


def test_it_shows_error_pages_to_visitors_who_are_not_signed_in(client):
    page = _assert_site_page(client.get("/no/such/page/"), 404)
    assert "Page not found" in page
