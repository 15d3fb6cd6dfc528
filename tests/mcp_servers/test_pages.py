"""The staff page `/mcp-servers/`: who may see it, what it shows, and its Check now button."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import AsyncClient
from django.urls import reverse

from mcp_servers.models import MCPServer
from mcp_servers.services import mcp_server_connect

LIST = "/mcp-servers/"


def check_url(server: MCPServer) -> str:
    return reverse("mcp_servers:server_check", args=[server.pk])


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


@pytest.mark.django_db
def test_it_sends_visitors_to_the_login_page(client, demo_server):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/mcp-servers/")


@pytest.mark.django_db
def test_it_hides_the_page_from_users_who_are_not_staff(client, alice, demo_server):
    client.force_login(alice)
    assert client.get(LIST).status_code == 404
    assert client.post(check_url(demo_server)).status_code == 404
    assert "/mcp-servers/" not in client.get("/").text


def _may_view_servers(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="view_mcpserver"))


@pytest.mark.django_db
def test_it_hides_the_page_from_staff_without_permission_to_view_servers(client, charlie, demo_server):
    demo_server.last_error = "Connection refused by 10.1.2.3:5432"
    demo_server.save()
    client.force_login(charlie)
    response = client.get(LIST)
    assert response.status_code == 404 and b"10.1.2.3" not in response.content
    assert "/mcp-servers/" not in client.get("/").text


@pytest.mark.django_db
def test_it_shows_staff_each_servers_state_and_tools_from_the_last_check(client, charlie, demo_server):
    _may_view_servers(charlie)
    demo_server.last_status = MCPServer.Status.ERROR
    demo_server.last_error = "Connection refused"
    demo_server.last_latency_ms = 12.5
    demo_server.last_tools = [{"name": "add", "description": "Add two numbers.", "input_schema": {"type": "object"}}]
    demo_server.env = {"TOKEN": "env-secret-5"}
    demo_server.save()
    client.force_login(charlie)
    assert 'href="/mcp-servers/"' in client.get("/").text
    page = client.get(LIST).text
    assert "<h2>demo</h2>" in page
    assert "Connection refused" in page and "12.5 ms" in page
    assert '<code class="tool-name">add</code>' in page and "<p>Add two numbers.</p>" in page
    assert "&quot;type&quot;: &quot;object&quot;" in page
    assert "Check now" not in page  # staff may look; only superusers check
    assert "env-secret-5" not in page and "TOKEN" not in page
    assert "<script" not in page.split("</header>")[1] and 'style="' not in page


@pytest.mark.django_db
def test_it_refuses_check_now_to_staff_who_are_not_superusers(client, charlie, demo_server):
    _may_view_servers(charlie)
    client.force_login(charlie)
    assert client.post(check_url(demo_server)).status_code == 403
    demo_server.refresh_from_db()
    assert demo_server.last_checked_at is None


@pytest.mark.django_db
def test_it_checks_a_server_now_for_a_superuser(client, root, demo_server):
    client.force_login(root)
    response = client.post(check_url(demo_server), follow=True)
    page = response.text
    assert re.search(r"demo: connected, 10 tool\(s\), [\d.]+ ms\.", page)
    assert '<code class="tool-name">reveal_bonus</code>' in page
    demo_server.refresh_from_db()
    assert demo_server.last_status == MCPServer.Status.CONNECTED


@pytest.mark.django_db(transaction=True)
async def test_it_counts_the_live_connections_of_this_process(root, demo_server, pool):
    await mcp_server_connect(server=demo_server, user_id=root.pk, username="root")
    client = AsyncClient()
    await sync_to_async(client.force_login)(root)
    page = (await client.get(LIST)).text
    assert "1 live connection in this process." in page
    assert re.search(r"<dt>Live connections</dt><dd>1</dd>", page)


@pytest.mark.django_db
def test_it_renders_descriptions_as_sanitized_markdown(client, charlie, demo_server):
    _may_view_servers(charlie)
    demo_server.description = "Reads the `wiki` for **you**."
    demo_server.last_status = MCPServer.Status.CONNECTED
    demo_server.last_tools = [
        {"name": "bonus", "description": "Add the `bonus` tool. <script>alert(1)</script>", "input_schema": {}},
    ]
    demo_server.save()
    client.force_login(charlie)
    page = client.get(LIST).text
    assert "Reads the <code>wiki</code> for <strong>you</strong>." in page
    assert "Add the <code>bonus</code> tool." in page
    assert "`" not in page.split("</header>")[1]  # no raw backticks
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.django_db
def test_it_lists_tools_without_bullets_or_disclosure_triangles(client, charlie, demo_server):
    _may_view_servers(charlie)
    demo_server.last_status = MCPServer.Status.CONNECTED
    demo_server.last_tools = [{"name": "add", "description": "Add two numbers.", "input_schema": {"type": "object"}}]
    demo_server.save()
    client.force_login(charlie)
    page = client.get(LIST).text
    # Each tool is a row of its own: its name, its description, and its schema behind a plain "Input schema" link.
    assert '<li class="server-tool">' in page and "<summary><code>" not in page
    assert '<details class="server-tool-schema"><summary>Input schema</summary>' in page
    css = (Path(settings.BASE_DIR) / "static" / "app.css").read_text()
    assert re.search(r"\.server-tools \{[^}]*list-style: none", css)
    assert re.search(r"\.server-tool-schema > summary \{[^}]*list-style: none", css)
    assert ".server-tool-schema > summary::-webkit-details-marker { display: none; }" in css
    assert re.search(r"\.server-state \{", css) and re.search(r"\.details \{[^}]*grid", css)
