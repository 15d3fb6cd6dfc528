"""The access matrix, by groups: providers, MCP servers and shared assistants granted to a group.

alice is in the group "research"; bob is not. For every interface (pages, the chat WebSocket, `/v1/`, `/mcp/`),
alice can use what the group is granted and bob gets a 404 (or the interface's "no such choice": a form error, a
400 naming the parameter, a tool error), and a run of something taken from him since fails with a clear message.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from assistants.models import Assistant, Provider
from chat.models import Conversation
from core.tokens import token_create
from mcp_servers.models import MCPServer
from tests.security.test_access_matrix import _mcp_call
from tests.ws import collect_until, ws_connect

ACTORS = ("inside", "outside")
TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@dataclass
class Grants:
    users: dict
    tokens: dict[str, str]
    provider: Provider
    server: MCPServer
    assistant: Assistant


@pytest.fixture
def grants(alice, bob, offline_provider) -> Grants:
    research = Group.objects.create(name="research")
    alice.groups.add(research)
    Group.objects.create(name="sales").user_set.add(bob)
    provider = Provider.objects.create(
        name="Lab", kind=Provider.Kind.OFFLINE, default_model="offline-lab", everyone=False
    )
    provider.groups.add(research)
    server = MCPServer.objects.create(
        name="lab-tools",
        command=sys.executable,
        args=["-m", "mcp_servers.demo"],
        cwd=str(settings.BASE_DIR),
        call_timeout=10,
    )
    server.groups.add(research)
    assistant = Assistant.objects.create(name="Lab assistant", provider=offline_provider, everyone=False)
    assistant.groups.add(research)
    assistant.mcp_servers.add(server)
    # What bob can always use, so his refusals are about the grant and nothing else.
    Assistant.objects.create(name="Open assistant", provider=offline_provider)
    tokens = {"inside": token_create(user=alice, name="t")[1], "outside": token_create(user=bob, name="t")[1]}
    return Grants({"inside": alice, "outside": bob}, tokens, provider, server, assistant)


def _client(grants: Grants, actor: str) -> Client:
    client = Client()
    client.force_login(grants.users[actor])
    return client


def _api(grants: Grants, actor: str, method: str, path: str, body: dict | None = None):
    headers = {"Authorization": f"Bearer {grants.tokens[actor]}"}
    if method == "GET":
        return Client().get(f"/v1/{path}", headers=headers)
    return Client().post(f"/v1/{path}", json.dumps(body or {}), content_type="application/json", headers=headers)


def _form(grants: Grants, **fields) -> dict:
    return {"name": "Mine", "provider": grants.assistant.provider_id, "model": "", "instructions": "", **fields}


# --- The shared assistant -------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_pages_show_a_granted_assistant_only_inside_the_group(grants, actor):
    client = _client(grants, actor)
    inside = actor == "inside"
    assert client.get(f"/assistants/{grants.assistant.pk}/").status_code == (200 if inside else 404)
    assert (grants.assistant.name in client.get("/assistants/").text) is inside
    assert (grants.assistant.name in client.get("/").text) is inside  # the new-conversation picker
    created = client.post("/conversations/", {"assistant": grants.assistant.pk})
    assert created.status_code == 302
    assert created["Location"].startswith("/conversations/thread_") is inside
    assert Conversation.objects.filter(owner=grants.users[actor]).exists() is inside
    duplicated = client.post(f"/assistants/{grants.assistant.pk}/duplicate")
    assert duplicated.status_code == (302 if inside else 404)


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_the_api_serves_a_granted_assistant_only_inside_the_group(grants, actor):
    inside = actor == "inside"
    assert _api(grants, actor, "GET", f"assistants/{grants.assistant.pk}").status_code == (200 if inside else 404)
    listed = [a["id"] for a in _api(grants, actor, "GET", "assistants").json()["data"]]
    assert (grants.assistant.pk in listed) is inside
    run = _api(grants, actor, "POST", "threads/runs", {"assistant_id": grants.assistant.pk})
    assert run.status_code == (200 if inside else 404), run.content[:300]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", ACTORS)
async def test_mcp_tools_serve_a_granted_assistant_only_inside_the_group(grants, actor):
    inside = actor == "inside"
    token = grants.tokens[actor]
    status, body = await _mcp_call(
        token, "tools/call", {"name": "get_assistant", "arguments": {"assistant_id": grants.assistant.pk}}
    )
    assert status == 200 and body["result"]["isError"] is not inside
    status, body = await _mcp_call(token, "tools/call", {"name": "list_assistants", "arguments": {}})
    assert (grants.assistant.pk in json.dumps(body["result"])) is inside
    status, body = await _mcp_call(
        token, "tools/call", {"name": "create_thread", "arguments": {"assistant_id": grants.assistant.pk}}
    )
    assert body["result"]["isError"] is not inside


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", ACTORS)
async def test_the_websocket_runs_a_granted_assistant_only_inside_the_group(grants, actor):
    # The conversation was begun while the user had the grant; bob has lost it since.
    conversation = await Conversation.objects.acreate(owner=grants.users[actor], assistant=grants.assistant)
    ws = await ws_connect(conversation.pk, grants.users[actor])
    await ws.send_json_to({"type": "message.create", "content": '/add {"a": 2, "b": 3}'})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    if actor == "inside":
        assert frames[-1]["event"] == "thread.run.completed"
        return
    assert frames[-1]["event"] == "thread.run.failed"
    assert "no longer available to you" in frames[-1]["data"]["last_error"]["message"]
    assert not [f for f in frames if f["event"] == "thread.run.step.created" and "tool_calls" in json.dumps(f)]


# --- The provider -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_pages_offer_a_granted_provider_only_inside_the_group(grants, actor):
    client = _client(grants, actor)
    inside = actor == "inside"
    assert (f'value="{grants.provider.pk}"' in client.get("/assistants/new").text) is inside
    created = client.post("/assistants/new", _form(grants, provider=grants.provider.pk))
    assert created.status_code == (302 if inside else 200)
    assert Assistant.objects.filter(owner=grants.users[actor], provider=grants.provider).exists() is inside


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_the_api_takes_a_granted_provider_only_inside_the_group(grants, actor):
    response = _api(grants, actor, "POST", "assistants", {"model": "Lab/offline-lab"})
    if actor == "inside":
        assert response.status_code == 200
    else:
        assert response.status_code == 400 and response.json()["error"]["param"] == "model"
        assert "'Lab'" not in response.json()["error"]["message"]  # not listed among the providers


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", ACTORS)
async def test_mcp_tools_take_a_granted_provider_only_inside_the_group(grants, actor):
    status, body = await _mcp_call(
        grants.tokens[actor], "tools/call", {"name": "create_assistant", "arguments": {"model": "Lab/offline-lab"}}
    )
    assert status == 200 and body["result"]["isError"] is (actor == "outside")


@pytest.mark.django_db(transaction=True)
async def test_a_run_fails_clearly_once_its_provider_is_no_longer_granted(grants):
    bob = grants.users["outside"]
    mine = await Assistant.objects.acreate(name="Bob's lab", owner=bob, provider=grants.provider)
    conversation = await Conversation.objects.acreate(owner=bob, assistant=mine)
    ws = await ws_connect(conversation.pk, bob)
    await ws.send_json_to({"type": "message.create", "content": "hello"})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.failed"
    assert "The provider 'Lab' is not available to you" in frames[-1]["data"]["last_error"]["message"]


# --- The MCP server -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_pages_offer_a_granted_server_only_inside_the_group(grants, actor, offline_provider):
    # Not on any shared assistant alice or bob may use: the grant alone decides.
    grants.assistant.mcp_servers.clear()
    client = _client(grants, actor)
    inside = actor == "inside"
    assert (grants.server.name in client.get("/assistants/new").text) is inside
    created = client.post("/assistants/new", _form(grants, mcp_servers=[grants.server.pk]))
    assert created.status_code == (302 if inside else 200)
    assert Assistant.objects.filter(owner=grants.users[actor], mcp_servers=grants.server).exists() is inside


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_the_api_takes_a_granted_server_only_inside_the_group(grants, actor):
    grants.assistant.mcp_servers.clear()
    body = {"model": "offline", "tools": [{"type": "mcp", "server_label": grants.server.name}]}
    response = _api(grants, actor, "POST", "assistants", body)
    if actor == "inside":
        assert response.status_code == 200
    else:
        assert response.status_code == 400 and response.json()["error"]["param"] == "tools[0].server_label"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", ACTORS)
async def test_mcp_tools_take_a_granted_server_only_inside_the_group(grants, actor):
    await sync_to_async(grants.assistant.mcp_servers.clear)()
    arguments = {"model": "offline", "tools": [{"type": "mcp", "server_label": grants.server.name}]}
    status, body = await _mcp_call(
        grants.tokens[actor], "tools/call", {"name": "create_assistant", "arguments": arguments}
    )
    assert status == 200 and body["result"]["isError"] is (actor == "outside")


@pytest.mark.django_db(transaction=True)
async def test_a_run_fails_clearly_once_its_server_is_no_longer_granted(grants, offline_provider):
    bob = grants.users["outside"]
    mine = await Assistant.objects.acreate(name="Bob's tools", owner=bob, provider=offline_provider)
    await sync_to_async(mine.mcp_servers.add)(grants.server)
    conversation = await Conversation.objects.acreate(owner=bob, assistant=mine)
    ws = await ws_connect(conversation.pk, bob)
    await ws.send_json_to({"type": "message.create", "content": '/add {"a": 2, "b": 3}'})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.failed"
    assert "lab-tools are not available to you" in frames[-1]["data"]["last_error"]["message"]


# --- Defaults keep existing installs working ------------------------------------------------------------------------


@pytest.mark.django_db
def test_everything_is_for_everyone_by_default_except_servers_not_offered(bob, demo_assistant):
    from assistants.services import mcp_server_usable, provider_usable

    private = MCPServer.objects.create(name="private", command="true")
    assert list(provider_usable(user=bob)) == [demo_assistant.provider]
    assert list(Assistant.objects.usable_by(bob)) == [demo_assistant]
    assert private not in mcp_server_usable(user=bob)
    assert list(mcp_server_usable(user=bob)) == list(demo_assistant.mcp_servers.all())


@pytest.mark.django_db
def test_a_server_granted_to_everyone_is_usable_by_every_user(bob):
    from assistants.services import mcp_server_usable

    open_server = MCPServer.objects.create(name="open", command="true", everyone=True)
    assert list(mcp_server_usable(user=bob)) == [open_server]


@pytest.mark.django_db
def test_a_user_in_two_granted_groups_sees_each_thing_once(grants):
    alice = grants.users["inside"]
    other = Group.objects.create(name="other")
    alice.groups.add(other)
    for granted in (grants.provider, grants.server, grants.assistant):
        granted.groups.add(other)
    from assistants.services import mcp_server_usable, provider_usable

    assert list(Assistant.objects.usable_by(alice)).count(grants.assistant) == 1
    assert list(provider_usable(user=alice)).count(grants.provider) == 1
    assert list(mcp_server_usable(user=alice)).count(grants.server) == 1
