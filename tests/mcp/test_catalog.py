"""Resources and prompts of Switchboard's MCP server: the asking user's own assistants, threads and messages,
and a prompt per assistant they may use, each from both sides (alice's, and bob asking for hers)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from assistants.models import Assistant
from chat import mcp_catalog
from chat.services import conversation_create
from tests.live import Server, Site
from tests.mcp.helpers import connected, data

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def helper(alice, offline_provider):
    return Assistant.objects.create(
        owner=alice, name="Helper", description="Helps alice.", instructions="Be kind.", provider=offline_provider
    )


@pytest.fixture
def thread(alice, helper):
    return conversation_create(
        user=alice, assistant_id=helper.pk, title="Plans", messages=[{"role": "user", "content": "Hello there"}]
    )


def _json(result: Any) -> dict[str, Any]:
    (contents,) = result.contents
    assert contents.mime_type == "application/json"
    return json.loads(contents.text)


async def _refused(call: Any) -> MCPError:
    with pytest.raises(MCPError) as refused:
        await call
    assert refused.value.code == -32602
    return refused.value


# --- Resources ------------------------------------------------------------------------------------------------------


async def test_it_offers_templates_for_assistants_threads_and_messages(alice):
    async with connected(alice) as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert {template.uri_template for template in templates} == {
        "switchboard://assistants/{assistant_id}",
        "switchboard://threads/{thread_id}",
        "switchboard://threads/{thread_id}/messages",
    }


async def test_it_lists_the_users_assistants_and_threads(alice, helper, thread):
    async with connected(alice) as client:
        uris = {resource.uri for resource in (await client.list_resources()).resources}
    assert uris == {
        f"switchboard://assistants/{helper.pk}",
        f"switchboard://threads/{thread.pk}",
        f"switchboard://threads/{thread.pk}/messages",
    }


async def test_it_lists_none_of_another_users_resources(bob, helper, thread):
    async with connected(bob) as client:
        assert (await client.list_resources()).resources == []


async def test_it_reads_an_assistant_a_thread_and_its_messages(alice, helper, thread):
    async with connected(alice) as client:
        assistant = _json(await client.read_resource(f"switchboard://assistants/{helper.pk}"))
        conversation = _json(await client.read_resource(f"switchboard://threads/{thread.pk}"))
        messages = _json(await client.read_resource(f"switchboard://threads/{thread.pk}/messages"))
    assert (assistant["object"], assistant["id"], assistant["name"]) == ("assistant", helper.pk, "Helper")
    assert (conversation["object"], conversation["id"]) == ("thread", thread.pk)
    assert messages["object"] == "list"
    assert [part["text"]["value"] for part in messages["data"][0]["content"]] == ["Hello there"]


@pytest.mark.parametrize("path", ["assistants/{helper}", "threads/{thread}", "threads/{thread}/messages"])
async def test_it_refuses_another_users_resource_as_not_found(bob, helper, thread, path):
    uri = "switchboard://" + path.format(helper=helper.pk, thread=thread.pk)
    async with connected(bob) as client:
        refused = await _refused(client.read_resource(uri))
    assert "Hello" not in str(refused) and "Helper" not in str(refused)


@pytest.mark.parametrize(
    "uri", ["switchboard://threads/thread_nope", "switchboard://elsewhere/x", "file:///etc/passwd"]
)
async def test_it_refuses_an_unknown_resource(alice, uri):
    async with connected(alice) as client:
        await _refused(client.read_resource(uri))


async def test_it_pages_the_resource_list(alice, helper, thread, monkeypatch):
    monkeypatch.setattr(mcp_catalog, "PAGE_SIZE", 1)
    async with connected(alice) as client:
        first = await client.list_resources()
        second = await client.list_resources(cursor=first.next_cursor)
        await _refused(client.list_resources(cursor="not-a-cursor"))
    assert [resource.uri for resource in first.resources] == [f"switchboard://assistants/{helper.pk}"]
    assert len(second.resources) == 2 and second.next_cursor is None


# --- Prompts --------------------------------------------------------------------------------------------------------


async def test_it_offers_a_prompt_per_assistant_the_user_may_use(alice, helper):
    async with connected(alice) as client:
        prompts = (await client.list_prompts()).prompts
    assert [(prompt.name, prompt.title) for prompt in prompts] == [(helper.pk, "Chat with Helper")]
    assert [(argument.name, argument.required) for argument in prompts[0].arguments] == [("message", True)]


async def test_it_offers_no_prompt_for_another_users_assistant(bob, helper):
    async with connected(bob) as client:
        assert (await client.list_prompts()).prompts == []


async def test_it_gets_messages_that_start_a_chat_with_the_assistant(alice, helper):
    async with connected(alice) as client:
        prompt = await client.get_prompt(helper.pk, {"message": "What is on today?"})
    embedded, instructions = prompt.messages
    assert embedded.role == "user" and embedded.content.type == "resource"
    assert embedded.content.resource.uri == f"switchboard://assistants/{helper.pk}"
    assert json.loads(embedded.content.resource.text)["id"] == helper.pk
    assert instructions.content.type == "text"
    assert "create_thread" in instructions.content.text and "What is on today?" in instructions.content.text


async def test_it_refuses_another_users_assistant_as_an_unknown_prompt(bob, helper):
    async with connected(bob) as client:
        refused = await _refused(client.get_prompt(helper.pk, {"message": "hi"}))
    assert "Helper" not in str(refused)


async def test_it_refuses_a_prompt_without_its_message(alice, helper):
    async with connected(alice) as client:
        await _refused(client.get_prompt(helper.pk, {}))


# --- Over Streamable HTTP, as the token's user -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_it_scopes_resources_to_the_tokens_user_over_http(site: Site, daphne_server: Server, mode):
    url = f"{daphne_server.url}/mcp/"

    def client(user: str) -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {site.tokens[user]}"})
        return http, streamable_http_client(url, http_client=http)

    http, transport = client("alice")
    async with http, Client(transport, mode=mode) as alice:
        thread = data(await alice.call_tool("create_thread", {"messages": [{"content": "Secret plans"}]}))
        uri = f"switchboard://threads/{thread['id']}/messages"
        assert "Secret plans" in (await alice.read_resource(uri)).contents[0].text
        assert uri in {resource.uri for resource in (await alice.list_resources()).resources}
    http, transport = client("bob")
    async with http, Client(transport, mode=mode) as bob:
        await _refused(bob.read_resource(uri))
        assert uri not in {resource.uri for resource in (await bob.list_resources()).resources}
