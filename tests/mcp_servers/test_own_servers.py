"""Users add remote MCP servers of their own, for their own assistants, where an administrator lets their group."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from assistants.models import Assistant
from assistants.services import mcp_server_usable
from chat.models import Conversation
from core.errors import ServiceError
from mcp_servers.models import MCPServer
from mcp_servers.services import mcp_server_own_create
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def builders(alice) -> Group:
    group = Group.objects.create(name="builders")
    group.permissions.add(Permission.objects.get(codename="add_own_mcpserver"))
    alice.groups.add(group)
    return group


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_refuses_users_whose_group_is_not_allowed(alice):
    client = _client(alice)
    page = client.get("/mcp-servers/mine/").content.decode()
    assert "has not let you add MCP servers" in page and "Add server</button>" not in page
    body = {"name": "docs", "transport": "streamable_http", "url": "https://mcp.example.com/mcp"}
    assert client.post("/mcp-servers/mine/", body).status_code == 403
    assert not MCPServer.objects.exists()


def test_it_adds_a_server_only_its_owner_sees_and_uses(alice, bob, builders):
    response = _client(alice).post(
        "/mcp-servers/mine/",
        {
            "name": "Docs",
            "transport": "streamable_http",
            "url": "https://mcp.example.com/mcp",
            "authorization": "Bearer s3",
        },
    )
    assert response.status_code == 302
    server = MCPServer.objects.get()
    assert (server.name, server.owner, server.scope) == ("alice-docs", alice, MCPServer.Scope.PER_USER)
    assert server.headers == {"Authorization": "Bearer s3"}
    page = _client(alice).get("/mcp-servers/mine/").content.decode()
    assert "alice-docs" in page and "Bearer s3" not in page  # the secret is never shown
    assert server in mcp_server_usable(user=alice)
    assert server not in mcp_server_usable(user=bob)
    assert "alice-docs" not in _client(bob).get("/mcp-servers/mine/").content.decode()


def test_it_refuses_stdio_and_addresses_the_network_policy_forbids(alice, builders):
    with pytest.raises(ServiceError) as stdio:
        mcp_server_own_create(user=alice, name="shell", transport="stdio", url="")
    assert "transport" in stdio.value.fields
    with pytest.raises(ServiceError) as metadata:
        mcp_server_own_create(user=alice, name="meta", transport="streamable_http", url="http://169.254.169.254/mcp")
    assert "url" in metadata.value.fields
    assert not MCPServer.objects.exists()


def test_another_users_server_cannot_be_removed(alice, bob, builders):
    server = mcp_server_own_create(user=alice, name="docs", transport="sse", url="https://mcp.example.com/sse")
    assert _client(bob).post(f"/mcp-servers/mine/{server.pk}/delete/").status_code == 404
    client = _client(alice)
    assert "Remove alice-docs?" in client.get(f"/mcp-servers/mine/{server.pk}/delete/").content.decode()
    assert client.post(f"/mcp-servers/mine/{server.pk}/delete/").status_code == 302
    assert not MCPServer.objects.exists()


async def test_its_owner_runs_its_tools(alice, builders, offline_provider, demo_http_url):
    from asgiref.sync import sync_to_async

    server = await sync_to_async(mcp_server_own_create)(
        user=alice, name="mine", transport="streamable_http", url=demo_http_url
    )
    assistant = await Assistant.objects.acreate(name="Own", owner=alice, provider=offline_provider)
    await assistant.mcp_servers.aset([server])
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/add {"a": 20, "b": 22}'})
    frames = await collect_until(ws, "thread.run.completed", "thread.run.failed")
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    step = next(
        f["data"] for f in frames if f["event"] == "thread.run.step.completed" and f["data"].get("type") == "tool_calls"
    )
    assert step["step_details"]["tool_calls"][0]["function"]["output"] == "42"
    assert step["metadata"]["server"] == "alice-mine"
