"""Red-team finding 7: an import that points a server somewhere new never sends it the old one's secrets."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from mcp_servers.config_io import config_apply, config_plan
from mcp_servers.models import MCPServer

pytestmark = pytest.mark.django_db

SECRET = "hdr-secret-9f31"


@pytest.fixture
def remote(db):
    return MCPServer.objects.create(
        name="search",
        transport=MCPServer.Transport.STREAMABLE_HTTP,
        url="https://search.example/mcp",
        headers={"Authorization": SECRET},
    )


@pytest.fixture
def stdio(db):
    return MCPServer.objects.create(
        name="files", command="npx", args=["-y", "@modelcontextprotocol/server-filesystem"], env={"TOKEN": SECRET}
    )


def _file(tmp_path, servers: dict) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def _import(*args: str) -> str:
    out = StringIO()
    call_command("import_mcp_servers", *args, stdout=out)
    return out.getvalue()


def test_it_drops_a_stored_header_when_the_file_points_the_server_at_a_new_url(tmp_path, remote):
    path = _file(tmp_path, {"search": {"url": "https://elsewhere.example/mcp", "headers": {"Authorization": ""}}})
    preview = _import(path, "--dry-run")
    assert "Authorization" in preview and "dropped" in preview
    _import(path)
    remote.refresh_from_db()
    assert remote.url == "https://elsewhere.example/mcp"
    assert remote.headers == {}


def test_it_keeps_a_header_the_file_restates_for_the_new_url(tmp_path, remote):
    path = _file(tmp_path, {"search": {"url": "https://elsewhere.example/mcp", "headers": {"Authorization": "new"}}})
    _import(path)
    remote.refresh_from_db()
    assert remote.headers == {"Authorization": "new"}


def test_it_still_keeps_stored_secrets_when_the_url_is_the_same(tmp_path, remote):
    _import(_file(tmp_path, {"search": {"url": "https://search.example/mcp", "headers": {"Authorization": ""}}}))
    remote.refresh_from_db()
    assert remote.headers == {"Authorization": SECRET}


@pytest.mark.parametrize(
    "entry",
    [
        {"command": "uvx", "args": ["-y", "@modelcontextprotocol/server-filesystem"], "env": {"TOKEN": ""}},
        {"command": "npx", "args": ["-y", "@someone-else/server"], "env": {"TOKEN": ""}},
    ],
    ids=["new command", "new arguments"],
)
def test_it_drops_stored_env_when_the_file_runs_another_command(stdio, entry):
    plan = config_plan(json.dumps({"mcpServers": {"files": entry}}))
    (planned,) = plan.entries
    assert any("TOKEN" in warning and "dropped" in warning for warning in planned.warnings), planned.warnings
    config_apply(plan)
    stdio.refresh_from_db()
    assert stdio.env == {}


def test_it_says_so_in_the_admin_preview(client, django_user_model, remote):
    client.force_login(django_user_model.objects.create_superuser("root", password="root-password-1"))
    moved = {"url": "https://elsewhere.example/mcp", "headers": {"Authorization": ""}}
    text = json.dumps({"mcpServers": {"search": moved}})
    response = client.post(reverse("admin:mcp_servers_mcpserver_import"), {"text": text})
    assert response.status_code == 200
    body = response.content.decode()
    assert "dropped" in body and "Authorization" in body
    assert SECRET not in body
