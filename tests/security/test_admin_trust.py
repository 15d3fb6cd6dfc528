"""The admin holds no back door for staff: read-only pages show no secret, and assistant rights stay the app's.

Red-team findings 1 (secrets on the read-only change page) and 6 (staff making or editing shared assistants).
"""

from __future__ import annotations

import sys

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from assistants.models import Assistant, Provider
from mcp_servers.models import MCPServer
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db

API_KEY = "sk-PROVIDER-SECRET-4f1d9a"
ENV_SECRET = "ENV-SECRET-77c2e0"
HEADER_SECRET = "HEADER-SECRET-a93b51"


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def secrets_stored(db):
    provider = Provider.objects.create(
        name="Keyed", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://127.0.0.1:9/v1", api_key=API_KEY
    )
    stdio = MCPServer.objects.create(
        name="files", command=sys.executable, args=["-m", "mcp_servers.demo"], env={"TOKEN": ENV_SECRET}
    )
    remote = MCPServer.objects.create(
        name="remote",
        transport=MCPServer.Transport.STREAMABLE_HTTP,
        url="http://127.0.0.1:9/mcp",
        headers={"Authorization": HEADER_SECRET},
    )
    return provider, stdio, remote


def test_it_shows_staff_with_view_permission_no_secret_on_read_only_pages(charlie, secrets_stored):
    provider, stdio, remote = secrets_stored
    _grant(charlie, "view_provider", "view_mcpserver")
    client = _client(charlie)
    pages = {
        admin_url(provider): API_KEY,
        admin_url(stdio): ENV_SECRET,
        admin_url(remote): HEADER_SECRET,
    }
    for page, secret in pages.items():
        response = client.get(page)
        assert response.status_code == 200, page
        assert secret.encode() not in response.content, page
    # What is set is still said, by key, so the page stays useful.
    assert b"TOKEN" in client.get(admin_url(stdio)).content
    assert b"A value is set" in client.get(admin_url(provider)).content


def test_it_still_lets_superusers_edit_secrets_write_only(django_user_model, secrets_stored):
    _, stdio, _ = secrets_stored
    root = django_user_model.objects.create_superuser("root", password="root-password-1")
    response = _client(root).get(admin_url(stdio))
    assert response.status_code == 200
    assert b'name="env"' in response.content and ENV_SECRET.encode() not in response.content


# --- Finding 6: shared assistants and private servers through the admin --------------------------------------------


@pytest.fixture
def private_server(db):
    return MCPServer.objects.create(name="private", command=sys.executable, args=["-m", "mcp_servers.demo"])


def _assistant_post(provider, **fields):
    return {
        "name": "Sneaky",
        "description": "",
        "instructions": "",
        "provider": provider.pk,
        "model": "",
        "tool_choice": "",
        "metadata": "{}",
        "parallel_tool_calls": "on",
        **fields,
    }


def test_it_refuses_staff_a_shared_assistant_in_the_admin(charlie, offline_provider):
    _grant(charlie, "add_assistant", "change_assistant", "view_assistant")
    response = _client(charlie).post("/admin/assistants/assistant/add/", _assistant_post(offline_provider))
    assert response.status_code == 200
    assert b"Only a superuser can make a shared assistant" in response.content
    assert not Assistant.objects.exists()


def test_it_refuses_staff_a_private_mcp_server_in_the_admin(charlie, bob, offline_provider, private_server):
    _grant(charlie, "add_assistant", "change_assistant", "view_assistant")
    post = _assistant_post(offline_provider, owner=bob.pk, mcp_servers=[private_server.pk])
    response = _client(charlie).post("/admin/assistants/assistant/add/", post)
    assert response.status_code == 200
    assert not Assistant.objects.exists()


def test_it_lets_staff_add_an_assistant_with_a_server_the_owner_may_use(charlie, bob, offline_provider, demo_assistant):
    _grant(charlie, "add_assistant", "change_assistant", "view_assistant")
    offered = demo_assistant.mcp_servers.get()
    post = _assistant_post(offline_provider, owner=bob.pk, mcp_servers=[offered.pk])
    response = _client(charlie).post("/admin/assistants/assistant/add/", post)
    assert response.status_code == 302, response.content[:2000]
    assert list(Assistant.objects.get(owner=bob).mcp_servers.all()) == [offered]


def test_it_keeps_shared_assistants_read_only_to_staff(charlie, offline_provider, demo_assistant):
    _grant(charlie, "add_assistant", "change_assistant", "view_assistant", "delete_assistant")
    client = _client(charlie)
    page = client.get(admin_url(demo_assistant))
    assert page.status_code == 200 and b'name="instructions"' not in page.content
    changed = client.post(
        admin_url(demo_assistant),
        _assistant_post(offline_provider, instructions="Obey charlie."),
    )
    assert changed.status_code == 403
    deleted = client.post(admin_url(demo_assistant, "delete"), {"post": "yes"})
    assert deleted.status_code == 403
    bulk = client.post(
        "/admin/assistants/assistant/",
        {"action": "delete_selected", "_selected_action": [demo_assistant.pk], "post": "yes"},
    )
    assert bulk.status_code == 403
    demo_assistant.refresh_from_db()
    assert demo_assistant.instructions == "Be brief."


def test_it_keeps_letting_superusers_edit_shared_assistants(django_user_model, offline_provider, demo_assistant):
    root = django_user_model.objects.create_superuser("root", password="root-password-1")
    post = _assistant_post(offline_provider, name="Demo assistant", instructions="Be briefer.")
    response = _client(root).post(admin_url(demo_assistant), post)
    assert response.status_code == 302, response.content[:2000]
    demo_assistant.refresh_from_db()
    assert demo_assistant.instructions == "Be briefer."
