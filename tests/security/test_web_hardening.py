"""Browser-facing hardening: CSRF on every form, cookie flags, security headers and a CSP the pages keep."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.test import Client

from chat.models import Conversation
from core.models import ApiToken
from core.tokens import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


@pytest.fixture
def objects(alice, demo_assistant):
    conversation = Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Mine")
    token, _ = token_create(user=alice, name="t")
    return {"thread": conversation.pk, "assistant": demo_assistant.pk, "token": token.pk}


# Every form a logged-in user (or the superuser, for the staff page and the admin) can post.
FORMS = [
    ("/accounts/logout/", {}),
    ("/conversations/", {"assistant": "{assistant}"}),
    ("/conversations/{thread}/rename/", {"title": "changed"}),
    ("/conversations/{thread}/archive/", {}),
    ("/conversations/{thread}/delete/", {}),
    ("/assistants/new", {"name": "x", "provider": "1"}),
    ("/assistants/{assistant}/duplicate", {}),
    ("/settings/tokens/", {"name": "x"}),
    ("/settings/tokens/{token}/revoke", {}),
    ("/mcp-servers/1/check/", {}),
    ("/admin/assistants/provider/add/", {"name": "x", "kind": "offline"}),
]


def _state() -> tuple:
    return (
        list(Conversation.objects.values_list("pk", "title", "archived_at")),
        list(ApiToken.objects.values_list("pk", "revoked_at")),
    )


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_it_refuses_every_form_posted_without_a_csrf_token(superuser, objects, path, data):
    objects["thread"] = Conversation.objects.create(owner=superuser, assistant_id=objects["assistant"]).pk
    objects["token"] = token_create(user=superuser, name="t")[0].pk
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    before = _state()

    response = client.post(path.format(**objects), {k: v.format(**objects) for k, v in data.items()})

    assert response.status_code == 403
    assert _state() == before


def test_it_refuses_the_login_form_without_a_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 403
    assert settings.SESSION_COOKIE_NAME not in client.cookies


def test_it_sets_the_session_cookie_httponly_and_samesite(alice):
    client = Client()
    client.get("/accounts/login/")
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain HTTP in development; see the next test for production


def test_it_makes_cookies_secure_behind_an_https_proxy():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SECURE_PROXY_SSL_HEADER)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "BEHIND_HTTPS_PROXY": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "True True True ('HTTP_X_FORWARDED_PROTO', 'https')", result.stderr


PAGES = [
    "/",
    "/conversations/{thread}/",
    "/conversations/{thread}/rename/",
    "/conversations/{thread}/delete/",
    "/assistants/",
    "/assistants/new",
    "/assistants/{assistant}/",
    "/settings/tokens/",
]


class InlineFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, event handler attributes, style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.problems.append(f"inline <script> {attrs}")
        if tag == "style":
            self.problems.append("inline <style>")
        for name, _ in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name == "style":
                self.problems.append(f"<{tag} style=…>")


@pytest.mark.parametrize("path", PAGES)
def test_it_sends_security_headers_and_keeps_its_own_csp_on_every_page(alice, objects, path):
    client = Client()
    client.force_login(alice)
    response = client.get(path.format(**objects))

    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    finder = InlineFinder()
    finder.feed(response.content.decode())
    assert finder.problems == []


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/health/"])
def test_it_sends_a_csp_to_anonymous_visitors_too(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
