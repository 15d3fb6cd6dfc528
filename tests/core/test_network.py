"""Remote MCP servers and provider base URLs stay within the admin's networks: checked on save and on connect."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from assistants.models import Assistant, Provider
from assistants.services import AssistantUnavailable, assistant_agent_build, provider_check
from core.network import address_refusal, url_refusal
from mcp_servers.config_io import config_plan
from mcp_servers.models import MCPServer
from mcp_servers.pool import MCPConnectError
from mcp_servers.services import mcp_server_check, mcp_server_connect

METADATA = "http://169.254.169.254/latest/meta-data/"


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "169.254.0.1", "fd00:ec2::254", "fe80::1", "::ffff:169.254.169.254"]
)
def test_it_denies_link_local_and_metadata_addresses_by_default(address):
    assert "denied" in address_refusal(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "2001:db8::1"])
def test_it_allows_other_addresses_by_default(address):
    assert address_refusal(address) == ""


def test_it_keeps_to_the_allow_list_when_one_is_set(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert address_refusal("10.9.9.9") == ""
    assert "outside the allowed networks" in address_refusal("127.0.0.1")


def test_it_resolves_a_host_name_before_deciding(settings):
    settings.OUTBOUND_DENIED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    assert "localhost" in url_refusal("http://localhost:9000/mcp")


@pytest.mark.django_db
def test_it_refuses_to_save_an_mcp_server_or_provider_pointing_at_metadata():
    server = MCPServer(name="meta", transport=MCPServer.Transport.STREAMABLE_HTTP, url=METADATA)
    with pytest.raises(ValidationError) as caught:
        server.full_clean()
    assert "denied network" in caught.value.message_dict["url"][0]
    provider = Provider(name="meta", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://169.254.169.254/v1")
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert "base_url" in caught.value.message_dict


@pytest.mark.django_db
def test_it_refuses_an_import_pointing_at_metadata():
    plan = config_plan(json.dumps({"mcpServers": {"meta": {"url": METADATA}}}))
    assert not plan.ok and "denied network" in plan.errors[0]


@pytest.mark.django_db
def test_the_admin_shows_the_refusal_next_to_the_url(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="root-password-1"))
    response = client.post(
        "/admin/mcp_servers/mcpserver/add/",
        {"name": "meta", "transport": "streamable_http", "url": METADATA, "args": "[]", "connect_timeout": 5,
         "call_timeout": 5, "scope": "shared", "approval": "never", "allowed_tools": "[]", "denied_tools": "[]",
         "approval_tools": "[]", "read_paths": "[]"},
    )  # fmt: skip
    assert response.status_code == 200 and b"denied network" in response.content
    assert not MCPServer.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_at_connect_a_server_whose_host_now_resolves_into_a_denied_network(alice, settings):
    server = await MCPServer.objects.acreate(
        name="remote", transport=MCPServer.Transport.STREAMABLE_HTTP, url="http://localhost:9/mcp"
    )
    # Saved while allowed; the deny list (or the name's address) changed since.
    settings.OUTBOUND_DENIED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    with pytest.raises(MCPConnectError, match="may not connect to localhost"):
        await mcp_server_connect(server=server, user_id=alice.pk, username="alice")
    result = await mcp_server_check(server=server)
    assert not result.ok and "denied network" in result.error


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_at_run_time_a_provider_whose_host_is_denied(alice, settings):
    provider = await Provider.objects.acreate(
        name="Local", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://localhost:9/v1", default_model="m"
    )
    assistant = await Assistant.objects.acreate(name="a", owner=alice, provider=provider)
    settings.OUTBOUND_DENIED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    with pytest.raises(AssistantUnavailable, match="denied network"):
        await sync_to_async(lambda: assistant.provider)()
        await assistant_agent_build(assistant=assistant, user_id=alice.pk, username="alice", instructions="")
    checked = await provider_check(provider=provider)
    assert not checked.ok and "denied network" in checked.message
