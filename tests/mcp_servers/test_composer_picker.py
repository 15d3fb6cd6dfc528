"""The composer's picker: the resources and prompts of a conversation's MCP servers (server-everything over stdio
and Streamable HTTP), a prompt rendered with its arguments, a resource read, each only for the owner and only
through the assistant's own servers."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from tests.mcp_servers.test_transports import conversation_with, server_spec

pytestmark = pytest.mark.django_db(transaction=True)


async def client_of(user) -> AsyncClient:
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    return client


async def post(client: AsyncClient, url: str, body) -> tuple[int, dict]:
    response = await client.post(url, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


@pytest.fixture(params=["everything-stdio", "everything-http"])
async def conversation(request, alice, offline_provider, pool):
    return await sync_to_async(conversation_with)(alice, offline_provider, **server_spec(request, request.param))


async def test_it_lists_the_servers_resources_and_prompts(alice, conversation):
    response = await (await client_of(alice)).get(f"/conversations/{conversation.pk}/mcp/")

    assert response.status_code == 200
    catalog = response.json()
    assert catalog["unavailable"] == []
    assert {"simple-prompt", "args-prompt"} <= {prompt["name"] for prompt in catalog["prompts"]}
    args = next(prompt for prompt in catalog["prompts"] if prompt["name"] == "args-prompt")
    assert [(a["name"], a["required"]) for a in args["arguments"]] == [("city", True), ("state", False)]
    assert all(resource["server"] == "tools" for resource in catalog["resources"])
    assert any(resource["uri"].startswith("demo://resource/static/document/") for resource in catalog["resources"])


async def test_it_renders_a_prompt_with_its_arguments(alice, conversation):
    status, body = await post(
        await client_of(alice),
        f"/conversations/{conversation.pk}/mcp/prompt",
        {"server": "tools", "name": "args-prompt", "arguments": {"city": "Boston", "state": "MA"}},
    )

    assert status == 200, body
    assert body["messages"] == [{"role": "user", "text": "What's weather in Boston, MA?"}]
    assert body["text"] == "What's weather in Boston, MA?"


async def test_it_reads_a_resource_for_the_message(alice, conversation):
    client = await client_of(alice)
    catalog = (await client.get(f"/conversations/{conversation.pk}/mcp/")).json()
    resource = next(r for r in catalog["resources"] if r["uri"].startswith("demo://resource/static/document/"))

    status, body = await post(
        client, f"/conversations/{conversation.pk}/mcp/resource", {"server": "tools", "uri": resource["uri"]}
    )

    assert status == 200, body
    assert body["uri"] == resource["uri"] and body["text"].strip()


async def test_it_refuses_bad_input_with_a_clear_error(alice, conversation):
    client = await client_of(alice)
    url = f"/conversations/{conversation.pk}/mcp/prompt"
    assert (await post(client, url, {"server": "elsewhere", "name": "simple-prompt"}))[0] == 404
    status, body = await post(client, url, {"server": "tools", "name": "args-prompt", "arguments": {"city": 5}})
    assert status == 400 and body["error"]["code"] == "invalid_value"
    status, body = await post(client, url, {"server": "tools", "name": "no-such-prompt"})
    assert status == 400 and body["error"]["code"] == "invalid_prompt"
    response = await client.post(url, "not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


async def test_it_is_a_404_for_another_user(bob, conversation):
    client = await client_of(bob)
    assert (await client.get(f"/conversations/{conversation.pk}/mcp/")).status_code == 404
    status, _ = await post(
        client, f"/conversations/{conversation.pk}/mcp/prompt", {"server": "tools", "name": "simple-prompt"}
    )
    assert status == 404
