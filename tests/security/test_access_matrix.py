"""Who may reach what, over every interface: pages, WebSocket, `/v1/` API, `/mcp/`, admin.

alice owns every object here. bob (another user) and charlie (staff) must find none of them (404), change
none of them, and anonymous callers or dead tokens get no further than the login page or a 401.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from channels.testing import HttpCommunicator
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from assistants.models import Assistant
from chat.models import Conversation, Message, Run, RunStep
from config.asgi import application
from core.models import ApiToken
from core.tokens import token_create, token_revoke
from tests.ws import ws_open

ACTORS = ("alice", "bob", "charlie", "anonymous", "revoked", "expired")


@dataclass
class World:
    users: dict
    tokens: dict[str, str]
    ids: dict[str, str]

    def snapshot(self) -> tuple:
        """Everything a refused request must leave as it was."""
        return (
            list(Assistant.objects.order_by("pk").values_list("pk", "name", "metadata")),
            list(Conversation.objects.order_by("pk").values_list("pk", "title", "metadata", "archived_at")),
            list(Message.objects.order_by("pk").values_list("pk", "content", "metadata")),
            list(Run.objects.order_by("pk").values_list("pk", "status", "metadata")),
            list(RunStep.objects.order_by("pk").values_list("pk", "status")),
            list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        )


@pytest.fixture
def world(alice, bob, charlie, offline_provider) -> World:
    assistant = Assistant.objects.create(name="Alice's", owner=alice, provider=offline_provider)
    thread = Conversation.objects.create(owner=alice, assistant=assistant, title="Alice's thread")
    run = Run.objects.create(conversation=thread, assistant=assistant, status=Run.Status.COMPLETED, model="offline")
    message = Message.objects.create(conversation=thread, role="user", content="secret plans", run=run)
    step = RunStep.objects.create(run=run, type=RunStep.Type.MESSAGE_CREATION, message=message)
    tokens = {name: token_create(user=user, name="t")[1] for name, user in (("alice", alice), ("bob", bob))}
    tokens["charlie"] = token_create(user=charlie, name="t")[1]
    revoked, tokens["revoked"] = token_create(user=alice, name="revoked")
    token_revoke(user=alice, token_id=revoked.pk)
    expired, tokens["expired"] = token_create(user=alice, name="expired")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    alice_token = ApiToken.objects.filter(user=alice, revoked_at__isnull=True, expires_at__isnull=True).get()
    ids = {
        "assistant": assistant.pk,
        "thread": thread.pk,
        "message": message.pk,
        "run": run.pk,
        "step": step.pk,
        "token": str(alice_token.pk),
        "server": "0",
    }
    return World(users={"alice": alice, "bob": bob, "charlie": charlie}, tokens=tokens, ids=ids)


def _client(world: World, actor: str) -> Client:
    client = Client()
    if actor in world.users:
        client.force_login(world.users[actor])
    return client


# --- Pages (session login) ----------------------------------------------------------------------------------------

# (method, path, alice's status): bob and charlie get 404, anonymous visitors (and token holders, which pages
# ignore) are sent to the login page.
PAGES = [
    ("GET", "/assistants/{assistant}/", 200),
    ("GET", "/assistants/{assistant}/edit", 200),
    ("POST", "/assistants/{assistant}/edit", 200),
    ("GET", "/assistants/{assistant}/delete", 200),
    ("POST", "/assistants/{assistant}/delete", 302),
    ("POST", "/assistants/{assistant}/duplicate", 302),
    ("GET", "/conversations/{thread}/", 200),
    ("GET", "/conversations/{thread}/rename/", 200),
    ("POST", "/conversations/{thread}/rename/", 302),
    ("POST", "/conversations/{thread}/archive/", 302),
    ("GET", "/conversations/{thread}/delete/", 200),
    ("POST", "/conversations/{thread}/delete/", 302),
    ("GET", "/conversations/{thread}/export.md", 200),
    ("GET", "/conversations/{thread}/export.json", 200),
    ("GET", "/conversations/{thread}/runs/{run}/trace/", 200),
    ("POST", "/settings/tokens/{token}/revoke", 302),
]


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(("method", "path", "owner_status"), PAGES)
def test_it_serves_pages_only_to_the_owner(world, actor, method, path, owner_status):
    url = path.format(**world.ids)
    client = _client(world, actor)
    headers = {"Authorization": f"Bearer {world.tokens[actor]}"} if actor in ("revoked", "expired") else {}
    before = world.snapshot()

    data = {"title": "pwned", "name": "pwned"} if method == "POST" else None
    response = client.post(url, data, headers=headers) if method == "POST" else client.get(url, headers=headers)

    if actor == "alice":
        assert response.status_code == owner_status, response.content[:300]
        return
    if actor in ("bob", "charlie"):
        assert response.status_code == 404
    else:
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert b"secret plans" not in response.content
    assert world.snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("actor", "status"),
    [("alice", 404), ("bob", 404), ("charlie", 200), ("anonymous", 302)],
)
def test_it_shows_the_mcp_server_page_to_staff_only(world, actor, status):
    if actor == "charlie":
        world.users["charlie"].user_permissions.add(Permission.objects.get(codename="view_mcpserver"))
    assert _client(world, actor).get("/mcp-servers/").status_code == status


@pytest.mark.django_db
def test_it_hides_the_mcp_server_page_from_staff_without_the_permission(world):
    assert _client(world, "charlie").get("/mcp-servers/").status_code == 404


# --- The /v1/ API (Bearer tokens) ---------------------------------------------------------------------------------

API = [
    ("GET", "assistants/{assistant}", 200),
    ("POST", "assistants/{assistant}", 200),
    ("DELETE", "assistants/{assistant}", 200),
    ("GET", "threads/{thread}", 200),
    ("POST", "threads/{thread}", 200),
    ("DELETE", "threads/{thread}", 200),
    ("GET", "threads/{thread}/messages", 200),
    ("POST", "threads/{thread}/messages", 200),
    ("GET", "threads/{thread}/messages/{message}", 200),
    ("POST", "threads/{thread}/messages/{message}", 200),
    ("GET", "threads/{thread}/runs/{run}", 200),
    ("POST", "threads/{thread}/runs/{run}", 200),
    ("POST", "threads/{thread}/runs/{run}/cancel", 409),
    ("GET", "threads/{thread}/runs/{run}/steps", 200),
    ("GET", "threads/{thread}/runs/{run}/steps/{step}", 200),
]
API_BODIES = {"messages": {"role": "user", "content": "pwned"}, "cancel": {}}


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(("method", "path", "owner_status"), API)
def test_it_serves_the_api_only_to_the_owners_live_token(world, actor, method, path, owner_status):
    url = "/v1/" + path.format(**world.ids)
    headers = {} if actor == "anonymous" else {"Authorization": f"Bearer {world.tokens[actor]}"}
    body = json.dumps(API_BODIES.get(path.rsplit("/", 1)[-1], {"metadata": {"k": "pwned"}}))
    before = world.snapshot()

    client = Client()
    if method == "GET":
        response = client.get(url, headers=headers)
    elif method == "DELETE":
        response = client.delete(url, headers=headers)
    else:
        response = client.post(url, body, content_type="application/json", headers=headers)

    expected = {"alice": owner_status, "bob": 404, "charlie": 404}.get(actor, 401)
    assert response.status_code == expected, response.content[:300]
    if actor != "alice":
        assert b"secret plans" not in response.content
        assert world.snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["bob", "charlie"])
def test_it_lists_none_of_alices_objects_to_others(world, actor):
    headers = {"Authorization": f"Bearer {world.tokens[actor]}"}
    listed = Client().get("/v1/assistants", headers=headers).json()["data"]
    assert world.ids["assistant"] not in [a["id"] for a in listed]
    page = Client().get("/", HTTP_AUTHORIZATION="")
    assert page.status_code == 302


# --- The chat WebSocket (session cookie) --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("actor", "close_code"), [("bob", 4404), ("charlie", 4404), ("anonymous", 4401)])
async def test_it_closes_the_websocket_for_anyone_but_the_owner(world, actor, close_code):
    ws = await ws_open(world.ids["thread"], world.users.get(actor))
    connected, _ = await ws.connect()
    assert connected  # accepted, then closed with a reason the page can show
    output = await ws.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": close_code}
    await ws.wait()


@pytest.mark.django_db(transaction=True)
async def test_it_opens_the_websocket_for_the_owner(world):
    ws = await ws_open(world.ids["thread"], world.users["alice"])
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "ping"})
    assert json.loads(await ws.receive_from(timeout=5))["event"] == "pong"
    await ws.disconnect()


# --- Switchboard's MCP endpoint (Bearer tokens) -------------------------------------------------------------------


async def _mcp_call(token: str | None, method: str, params: dict) -> tuple[int, dict | None]:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"mcp-protocol-version", b"2025-06-18"),
    ]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    response = await HttpCommunicator(application, "POST", "/mcp/", body=body, headers=headers).get_response(timeout=30)
    try:
        return response["status"], json.loads(response["body"])
    except ValueError:
        return response["status"], None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actor", ["anonymous", "revoked", "expired"])
async def test_it_refuses_the_mcp_endpoint_without_a_live_token(world, actor):
    status, _ = await _mcp_call(world.tokens.get(actor), "tools/list", {})
    assert status == 401


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("get_assistant", {"assistant_id": "{assistant}"}),
        ("get_thread", {"thread_id": "{thread}"}),
        ("list_messages", {"thread_id": "{thread}"}),
        ("get_run", {"thread_id": "{thread}", "run_id": "{run}"}),
        ("list_run_steps", {"thread_id": "{thread}", "run_id": "{run}"}),
        ("delete_thread", {"thread_id": "{thread}"}),
    ],
)
@pytest.mark.parametrize("actor", ["bob", "charlie"])
async def test_it_finds_none_of_alices_objects_through_mcp_tools(world, actor, tool, arguments):
    from asgiref.sync import sync_to_async

    before = await sync_to_async(world.snapshot)()
    filled = {name: value.format(**world.ids) for name, value in arguments.items()}
    status, body = await _mcp_call(world.tokens[actor], "tools/call", {"name": tool, "arguments": filled})
    assert status == 200, body
    result = body["result"]
    assert result["isError"] is True
    assert "secret plans" not in json.dumps(result)
    assert await sync_to_async(world.snapshot)() == before


@pytest.mark.django_db(transaction=True)
async def test_it_offers_no_mcp_tool_that_touches_providers_or_mcp_servers(world):
    status, body = await _mcp_call(world.tokens["charlie"], "tools/list", {})
    assert status == 200
    names = [tool["name"] for tool in body["result"]["tools"]]
    assert names and not [name for name in names if "provider" in name or "server" in name]


# --- Admin -------------------------------------------------------------------------------------------------------

ADMIN = [
    "/admin/assistants/provider/",
    "/admin/assistants/provider/add/",
    "/admin/mcp_servers/mcpserver/",
    "/admin/mcp_servers/mcpserver/add/",
    "/admin/chat/conversation/",
    "/admin/chat/message/",
    "/admin/core/auditentry/",
    "/admin/observability/trace/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ADMIN)
@pytest.mark.parametrize("actor", ["alice", "charlie", "anonymous"])
def test_it_keeps_non_superusers_out_of_the_admin(world, actor, path):
    response = _client(world, actor).get(path)
    if actor == "charlie":
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert b"secret plans" not in response.content
