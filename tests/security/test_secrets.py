"""Secrets never leave the server: not in an admin page, a page, an API answer, a WebSocket frame or a log line.
Only superusers create or change providers and MCP servers, by any route."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from assistants.models import Assistant, Provider
from chat.models import Conversation
from core.tokens import token_create
from mcp_servers.models import MCPServer
from tests.admin_urls import admin_url
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "sk-PROVIDER-SECRET-4f1d9a"
ENV_SECRET = "ENV-SECRET-77c2e0"
HEADER_SECRET = "HEADER-SECRET-a93b51"
SECRETS = (API_KEY, ENV_SECRET, HEADER_SECRET)


def assert_no_secret(text: str | bytes, where: str) -> None:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked in {where}"


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


@pytest.fixture
def secret_world(alice, offline_provider):
    keyed = Provider.objects.create(
        name="Keyed", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://127.0.0.1:9/v1", api_key=API_KEY
    )
    demo = MCPServer.objects.create(
        name="demo",
        command=sys.executable,
        args=["-m", "mcp_servers.demo"],
        cwd=str(settings.BASE_DIR),
        env={"DEMO_TOKEN": ENV_SECRET},
        call_timeout=10,
    )
    remote = MCPServer.objects.create(
        name="remote",
        transport=MCPServer.Transport.STREAMABLE_HTTP,
        url="http://127.0.0.1:9/mcp",
        headers={"Authorization": HEADER_SECRET},
        connect_timeout=2,
    )
    assistant = Assistant.objects.create(name="Demo", provider=offline_provider, owner=alice)
    assistant.mcp_servers.add(demo)
    keyed_assistant = Assistant.objects.create(name="Keyed", provider=keyed, owner=alice, model="m")
    conversation = Conversation.objects.create(owner=alice, assistant=assistant)
    return {"provider": keyed, "demo": demo, "remote": remote, "assistant": assistant, "keyed": keyed_assistant,
            "conversation": conversation}  # fmt: skip


def test_it_renders_no_secret_on_any_admin_page(superuser, secret_world, caplog):
    client = Client()
    client.force_login(superuser)
    provider, demo, remote = secret_world["provider"], secret_world["demo"], secret_world["remote"]
    with caplog.at_level(logging.DEBUG):
        pages = [
            "/admin/",
            "/admin/assistants/provider/",
            "/admin/assistants/provider/add/",
            admin_url(provider),
            "/admin/mcp_servers/mcpserver/",
            "/admin/mcp_servers/mcpserver/add/",
            admin_url(demo),
            admin_url(remote),
            admin_url(demo, "check"),
            "/admin/mcp_servers/mcpserver/import/",
            "/admin/assistants/assistant/",
            admin_url(secret_world["keyed"]),
            "/mcp-servers/",
        ]
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, page
            assert_no_secret(response.content, page)
        tested = client.post(
            "/admin/assistants/provider/",
            {"action": "test_provider", "_selected_action": [provider.pk]},
            follow=True,
        )
        assert_no_secret(tested.content, "the provider test action")
        checked = client.post(
            "/admin/mcp_servers/mcpserver/",
            {"action": "test_connection", "_selected_action": [demo.pk, remote.pk]},
            follow=True,
        )
        assert_no_secret(checked.content, "the MCP test-connection action")
        exported = client.post(
            "/admin/mcp_servers/mcpserver/", {"action": "export_json", "_selected_action": [demo.pk, remote.pk]}
        )
        assert_no_secret(exported.content, "the admin export")
    assert_no_secret(caplog.text, "the logs")


def test_it_exports_mcp_servers_without_their_secrets(secret_world, capsys):
    call_command("export_mcp_servers")
    assert_no_secret(capsys.readouterr().out, "export_mcp_servers")


def test_it_renders_no_secret_on_user_pages_or_api_answers(alice, secret_world, caplog):
    client = Client()
    client.force_login(alice)
    api = {"Authorization": f"Bearer {token_create(user=alice, name='t')[1]}"}
    assistant, keyed = secret_world["assistant"], secret_world["keyed"]
    with caplog.at_level(logging.DEBUG):
        for page in (
            "/",
            "/assistants/",
            "/assistants/new",
            f"/assistants/{keyed.pk}/",
            f"/assistants/{keyed.pk}/edit",
            f"/conversations/{secret_world['conversation'].pk}/",
            "/settings/tokens/",
        ):
            response = client.get(page)
            assert response.status_code == 200, page
            assert_no_secret(response.content, page)
        for path in ("assistants", f"assistants/{assistant.pk}", f"assistants/{keyed.pk}"):
            response = client.get(f"/v1/{path}", headers=api)
            assert response.status_code == 200, path
            assert_no_secret(response.content, f"/v1/{path}")
    assert_no_secret(caplog.text, "the logs")


async def test_it_sends_no_secret_in_any_frame_of_a_run_or_the_logs(alice, secret_world, caplog):
    ws = await ws_connect(secret_world["conversation"].pk, alice)
    with caplog.at_level(logging.DEBUG):
        for content in ("/tools", "/draw_dot {}", "hello"):
            await ws.send_json_to({"type": "message.create", "content": content})
            frames = await collect_until(ws, "thread.run.completed", "thread.run.failed")
            assert frames[-1]["event"] == "thread.run.completed", frames[-1]
            assert_no_secret(json.dumps(frames), f"the frames of {content!r}")
        await ws.send_json_to({"type": "thread.snapshot"})
        assert_no_secret(json.dumps(await collect_until(ws, "thread.snapshot")), "the snapshot")
    await ws.disconnect()
    assert_no_secret(caplog.text, "the logs")


# --- Only superusers change providers and MCP servers ------------------------------------------------------------


@pytest.fixture
def powerful_staff(charlie):
    """Staff with every model permission there is: still not a superuser."""
    charlie.user_permissions.set(Permission.objects.all())
    return charlie


def test_it_refuses_staff_every_admin_route_to_providers_and_mcp_servers(powerful_staff, secret_world):
    client = Client()
    client.force_login(powerful_staff)
    provider, demo = secret_world["provider"], secret_world["demo"]
    before = (list(Provider.objects.values()), list(MCPServer.objects.values()))
    attempts = [
        ("/admin/assistants/provider/add/", {"name": "Evil", "kind": "offline", "api_style": "responses"}),
        (admin_url(provider), {"name": "Evil", "kind": "offline"}),
        (admin_url(provider, "delete"), {"post": "yes"}),
        ("/admin/mcp_servers/mcpserver/add/", {"name": "evil", "transport": "stdio", "command": "rm"}),
        (admin_url(demo), {"name": "evil", "command": "rm"}),
        (admin_url(demo, "delete"), {"post": "yes"}),
        ("/admin/mcp_servers/mcpserver/import/", {"data": '{"mcpServers": {"evil": {"command": "rm"}}}'}),
        (admin_url(demo, "check"), {}),
        (f"/mcp-servers/{demo.pk}/check/", {}),
    ]
    for url, data in attempts:
        response = client.post(url, data)
        assert response.status_code in (403, 404), (url, response.status_code)
    assert (list(Provider.objects.values()), list(MCPServer.objects.values())) == before
