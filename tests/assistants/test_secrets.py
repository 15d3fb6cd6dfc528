from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from assistants.models import Provider
from mcp_servers.models import MCPServer

pytestmark = pytest.mark.django_db

SECRET = "sk-very-secret-0123456789"


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_encrypts_provider_keys_and_mcp_secrets_at_rest():
    provider = Provider.objects.create(name="P", kind="openai", api_key=SECRET)
    server = MCPServer.objects.create(name="s", env={"TOKEN": SECRET}, headers={"Authorization": SECRET})
    assert SECRET not in _raw("assistants_provider", "api_key", provider.pk)
    assert SECRET not in _raw("mcp_servers_mcpserver", "env", server.pk)
    assert SECRET not in _raw("mcp_servers_mcpserver", "headers", server.pk)
    assert Provider.objects.get(pk=provider.pk).api_key == SECRET
    assert MCPServer.objects.get(pk=server.pk).env == {"TOKEN": SECRET}


def test_it_never_renders_secrets_in_the_admin(client, superuser):
    provider = Provider.objects.create(name="P", kind="openai", api_key=SECRET)
    server = MCPServer.objects.create(name="s", env={"TOKEN": SECRET}, headers={"X-Key": SECRET})
    client.force_login(superuser)
    for url in (
        reverse("admin:assistants_provider_change", args=[provider.pk]),
        reverse("admin:assistants_provider_changelist"),
        reverse("admin:mcp_servers_mcpserver_change", args=[server.pk]),
        reverse("admin:mcp_servers_mcpserver_changelist"),
    ):
        page = client.get(url).content.decode()
        assert SECRET not in page
    assert "TOKEN" in client.get(reverse("admin:mcp_servers_mcpserver_change", args=[server.pk])).content.decode()


def test_it_keeps_a_secret_when_its_field_is_left_empty(client, superuser):
    provider = Provider.objects.create(name="P", kind="openai", api_key=SECRET, default_model="m")
    client.force_login(superuser)
    url = reverse("admin:assistants_provider_change", args=[provider.pk])
    data = {
        "name": "P2", "kind": "openai", "api_style": "responses", "base_url": "", "api_key": "",
        "default_model": "m", "timeout": "60", "max_retries": "2", "enabled": "on",
        "prices-TOTAL_FORMS": "0", "prices-INITIAL_FORMS": "0",
    }  # fmt: skip
    assert client.post(url, data).status_code == 302
    provider.refresh_from_db()
    assert (provider.name, provider.api_key) == ("P2", SECRET)
    data["api_key"] = "sk-rotated"
    client.post(url, data)
    provider.refresh_from_db()
    assert provider.api_key == "sk-rotated"


def test_it_lets_only_superusers_change_providers_and_mcp_servers(client, charlie):
    from django.contrib.auth.models import Permission

    charlie.user_permissions.set(Permission.objects.filter(codename__in=["add_provider", "add_mcpserver"]))
    client.force_login(charlie)
    assert client.get(reverse("admin:assistants_provider_add")).status_code == 403
    assert client.get(reverse("admin:mcp_servers_mcpserver_add")).status_code == 403
