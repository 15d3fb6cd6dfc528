"""The admin's Test connection action and page, and its mcpServers import (preview, then confirm)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mcp_servers.config_io import MAX_BYTES
from mcp_servers.models import MCPServer

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:mcp_servers_mcpserver_changelist"
IMPORT = "admin:mcp_servers_mcpserver_import"


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


def run_action(client, action: str, *servers: MCPServer):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [s.pk for s in servers]},
        follow=True,
    )


def test_it_tests_a_connection_and_shows_the_tools_and_latency(admin_client, demo_server):
    response = run_action(admin_client, "test_connection", demo_server)
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("demo: connected and listed 10 tool(s) in ")
    demo_server.refresh_from_db()
    assert demo_server.last_status == MCPServer.Status.CONNECTED
    assert demo_server.last_latency_ms > 0 and demo_server.last_checked_at is not None
    add = next(tool for tool in demo_server.last_tools if tool["name"] == "add")
    assert add["description"] == "Add two numbers."
    assert set(add["input_schema"]["properties"]) == {"a", "b"}


def test_it_shows_the_exact_error_of_a_bad_command(admin_client, demo_server):
    demo_server.command = "/nonexistent/program"
    demo_server.save()
    response = run_action(admin_client, "test_connection", demo_server)
    (message,) = [str(m) for m in response.context["messages"]]
    assert message == "demo: [Errno 2] No such file or directory: '/nonexistent/program'"
    demo_server.refresh_from_db()
    assert demo_server.last_status == MCPServer.Status.ERROR
    assert demo_server.last_error == "[Errno 2] No such file or directory: '/nonexistent/program'"


def test_it_lists_tools_with_descriptions_and_schemas_on_the_check_page(admin_client, demo_server):
    url = reverse("admin:mcp_servers_mcpserver_check", args=[demo_server.pk])
    assert url in admin_client.get(reverse("admin:mcp_servers_mcpserver_change", args=[demo_server.pk])).text
    page = admin_client.post(url).text
    assert "Connected" in page
    assert "<code>count</code>" in page
    assert "Count up to `steps` (at most 100)" in page
    assert "&quot;interval&quot;" in page  # the input schema, escaped
    assert " ms (connect " in page


def test_it_keeps_the_check_page_from_staff_who_are_not_superusers(client, charlie, demo_server):
    client.force_login(charlie)
    response = client.post(reverse("admin:mcp_servers_mcpserver_check", args=[demo_server.pk]))
    assert response.status_code == 403
    demo_server.refresh_from_db()
    assert demo_server.last_checked_at is None


SAMPLE = {
    "mcpServers": {
        "Files": {"command": "npx", "args": ["-y", "server-files", "/data"], "env": {"TOKEN": "tok-secret-1"}},
        "search": {"url": "https://search.example/mcp", "headers": {"Authorization": "Bearer hdr-secret-2"}},
        "legacy": {"type": "sse", "url": "http://127.0.0.1:3001/sse"},
        "live": {"url": "wss://live.example/mcp"},
    }
}


def test_it_previews_an_import_without_saving_and_keeps_secrets_out_of_the_page(admin_client):
    response = admin_client.post(reverse(IMPORT), {"text": json.dumps(SAMPLE)})
    page = response.text
    assert response.status_code == 200
    assert "4 to create, 0 to update, 0 unchanged" in page
    assert "Saved as &#x27;files&#x27;" in page
    assert "tok-secret-1" not in page and "hdr-secret-2" not in page
    assert not MCPServer.objects.exists()


def test_it_imports_what_was_previewed_once_confirmed(admin_client):
    preview = admin_client.post(reverse(IMPORT), {"file": SimpleUploadedFile("c.json", json.dumps(SAMPLE).encode())})
    payload = preview.context["payload"]
    response = admin_client.post(reverse(IMPORT), {"payload": payload, "confirm": "1"}, follow=True)
    assert "Imported: 4 created, 0 updated." in [str(m) for m in response.context["messages"]]
    servers = {s.name: s for s in MCPServer.objects.all()}
    assert set(servers) == {"files", "search", "legacy", "live"}
    assert servers["files"].env == {"TOKEN": "tok-secret-1"}
    assert servers["search"].transport == MCPServer.Transport.STREAMABLE_HTTP
    assert servers["legacy"].transport == MCPServer.Transport.SSE
    assert servers["live"].transport == MCPServer.Transport.WEBSOCKET


def test_it_shows_each_entrys_errors_and_offers_no_confirm(admin_client):
    bad = {"mcpServers": {"ok": {"command": "x"}, "both": {"command": "x", "url": "http://a"}, "!!!": {"url": 3}}}
    page = admin_client.post(reverse(IMPORT), {"text": json.dumps(bad)}).text
    assert "Give either &quot;command&quot; (stdio) or &quot;url&quot;, not both." in page
    assert "The name has no letters or digits" in page
    assert 'name="confirm"' not in page
    assert not MCPServer.objects.exists()


def test_it_refuses_an_upload_over_the_size_limit(admin_client):
    big = SimpleUploadedFile("c.json", b" " * (MAX_BYTES + 1))
    page = admin_client.post(reverse(IMPORT), {"file": big}).text
    assert "the limit is 256 KiB" in page


def test_it_lets_only_superusers_import(client, charlie):
    client.force_login(charlie)
    assert client.get(reverse(IMPORT)).status_code == 403
    assert client.post(reverse(IMPORT), {"text": json.dumps(SAMPLE)}).status_code == 403
    assert not MCPServer.objects.exists()


def test_it_exports_selected_servers_without_secret_values(admin_client, demo_server):
    demo_server.env = {"TOKEN": "env-secret-3"}
    demo_server.save()
    response = run_action(admin_client, "export_json", demo_server)
    assert response["Content-Disposition"] == 'attachment; filename="mcp_servers.json"'
    document = json.loads(response.content)
    assert document["mcpServers"]["demo"]["env"] == {"TOKEN": ""}
    assert b"env-secret-3" not in response.content


def add_form(**fields) -> dict:
    form = {
        "name": "srv",
        "transport": "stdio",
        "enabled": "on",
        "args": "[]",
        "connect_timeout": "15",
        "call_timeout": "60",
        "scope": "shared",
        "allowed_tools": "[]",
        "denied_tools": "[]",
        "approval": "never",
        "approval_tools": "[]",
    }
    return {**form, **fields}


def test_it_saves_a_websocket_server_with_a_ws_url(admin_client):
    response = admin_client.post(
        reverse("admin:mcp_servers_mcpserver_add"), add_form(transport="websocket", url="wss://live.example/mcp")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert MCPServer.objects.get(name="srv").url == "wss://live.example/mcp"


def test_it_refuses_a_stdio_server_without_a_command(admin_client):
    response = admin_client.post(reverse("admin:mcp_servers_mcpserver_add"), add_form())
    assert response.status_code == 200
    assert "A stdio server needs a command to run." in response.text
    assert not MCPServer.objects.exists()


def test_it_names_the_host_an_http_server_could_not_be_reached_at(admin_client, unused_tcp_port):
    server = MCPServer.objects.create(
        name="remote", transport=MCPServer.Transport.STREAMABLE_HTTP, url=f"http://127.0.0.1:{unused_tcp_port}/mcp"
    )
    response = run_action(admin_client, "test_connection", server)
    (message,) = [str(m) for m in response.context["messages"]]
    assert message == (f"remote: Could not reach the server (127.0.0.1:{unused_tcp_port}).")


def test_it_tests_several_servers_at_once(admin_client, demo_server):
    broken = MCPServer.objects.create(name="broken", command="/nonexistent/program")
    response = run_action(admin_client, "test_connection", demo_server, broken)
    found = sorted(str(m).split(":")[0] for m in response.context["messages"])
    assert found == ["broken", "demo"]
    assert MCPServer.objects.get(name="broken").last_status == MCPServer.Status.ERROR
    assert MCPServer.objects.get(name="demo").last_status == MCPServer.Status.CONNECTED
