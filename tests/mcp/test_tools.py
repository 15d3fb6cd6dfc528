"""The tools of Switchboard's MCP server, in-process over the official client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp import Client

from assistants.models import Assistant
from chat.mcp_server import server
from chat.models import Conversation
from chat.services import run_wait
from tests.mcp.helpers import connected, data, error, text_of

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS = {
    "list_assistants",
    "create_assistant",
    "get_assistant",
    "update_assistant",
    "delete_assistant",
    "create_thread",
    "get_thread",
    "delete_thread",
    "create_message",
    "list_messages",
    "create_run",
    "get_run",
    "list_runs",
    "cancel_run",
    "decide_tool_call",
    "list_run_steps",
}


async def test_it_lists_every_tool_with_a_description_and_schema(alice):
    async with connected(alice) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        assert tool.description
        assert tool.input_schema["type"] == "object"
        assert "ctx" not in tool.input_schema.get("properties", {})


async def test_it_creates_an_assistant_owned_by_the_caller(alice, demo_assistant):
    async with connected(alice) as client:
        created = data(
            await client.call_tool(
                "create_assistant",
                {"model": "Offline", "name": "Helper", "tools": [{"type": "mcp", "server_label": "demo"}]},
            )
        )
    assert created["object"] == "assistant"
    assert (created["name"], created["model"]) == ("Helper", "offline")
    assistant = await Assistant.objects.aget(pk=created["id"])
    assert assistant.owner_id == alice.pk


async def test_it_changes_only_the_fields_sent_to_update_assistant(alice, offline_provider):
    assistant = await Assistant.objects.acreate(
        owner=alice, name="Old", instructions="Keep me.", provider=offline_provider, temperature=0.5
    )
    async with connected(alice) as client:
        updated = data(
            await client.call_tool(
                "update_assistant", {"assistant_id": assistant.pk, "name": "New", "temperature": None}
            )
        )
    assert (updated["name"], updated["instructions"], updated["temperature"]) == ("New", "Keep me.", None)


async def test_it_reports_invalid_assistant_input_as_a_tool_error(alice, offline_provider):
    async with connected(alice) as client:
        result = await client.call_tool("create_assistant", {"model": "no-such-model"})
    assert "Unknown model 'no-such-model'" in error(result)


async def test_it_deletes_an_assistant(alice, offline_provider):
    assistant = await Assistant.objects.acreate(owner=alice, name="Gone", provider=offline_provider)
    async with connected(alice) as client:
        deleted = data(await client.call_tool("delete_assistant", {"assistant_id": assistant.pk}))
    assert deleted == {"id": assistant.pk, "object": "assistant.deleted", "deleted": True}
    assert not await Assistant.objects.filter(pk=assistant.pk).aexists()


async def test_it_runs_a_thread_to_completion_and_reads_the_answer(alice, demo_assistant, close_pool):
    async with connected(alice) as client:
        thread = data(await client.call_tool("create_thread", {"assistant_id": demo_assistant.pk}))
        data(await client.call_tool("create_message", {"thread_id": thread["id"], "content": '/add {"a": 2, "b": 3}'}))
        run = data(await client.call_tool("create_run", {"thread_id": thread["id"]}))
        messages = data(await client.call_tool("list_messages", {"thread_id": thread["id"], "order": "asc"}))
        steps = data(await client.call_tool("list_run_steps", {"thread_id": thread["id"], "run_id": run["id"]}))
    assert run["status"] == "completed"
    assert [m["role"] for m in messages["data"]] == ["user", "assistant"]
    assert "5" in text_of(messages["data"][1])
    calls = [s["step_details"]["tool_calls"][0] for s in steps["data"] if s["type"] == "tool_calls"]
    assert [(c["function"]["name"], c["function"]["output"]) for c in calls] == [("add", "5")]


@pytest.mark.parametrize(("approve", "expected"), [(True, "5"), (False, "refused")])
async def test_it_answers_a_paused_tool_call(alice, demo_assistant, demo_server, close_pool, approve, expected):
    demo_server.approval = "always"
    await demo_server.asave()
    async with connected(alice) as client:
        thread = data(await client.call_tool("create_thread", {"assistant_id": demo_assistant.pk}))
        data(await client.call_tool("create_message", {"thread_id": thread["id"], "content": '/add {"a": 2, "b": 3}'}))
        paused = data(await client.call_tool("create_run", {"thread_id": thread["id"]}))
        call = paused["required_action"]["submit_tool_outputs"]["tool_calls"][0]
        ids = {"thread_id": thread["id"], "run_id": paused["id"], "tool_call_id": call["id"]}
        run = data(await client.call_tool("decide_tool_call", {**ids, "approve": approve}))
        again = error(await client.call_tool("decide_tool_call", {**ids, "approve": approve}))
        messages = data(await client.call_tool("list_messages", {"thread_id": thread["id"]}))
    assert paused["status"] == "requires_action"
    assert run["status"] == "completed"
    assert expected in text_of(messages["data"][0])
    assert "not waiting" in again


async def test_it_returns_a_queued_run_at_once_without_wait(alice, demo_assistant, close_pool):
    async with connected(alice) as client:
        thread = data(
            await client.call_tool(
                "create_thread",
                {"assistant_id": demo_assistant.pk, "messages": [{"role": "user", "content": "hello"}]},
            )
        )
        run = data(await client.call_tool("create_run", {"thread_id": thread["id"], "wait": False}))
        finished = await run_wait(user=alice, run_id=run["id"], timeout=20)
        fetched = data(await client.call_tool("get_run", {"thread_id": thread["id"], "run_id": run["id"]}))
    assert run["status"] == "queued"
    assert finished.status == fetched["status"] == "completed"


async def test_it_cancels_an_active_run(alice, demo_assistant, close_pool):
    async with connected(alice) as client:
        thread = data(await client.call_tool("create_thread", {"assistant_id": demo_assistant.pk}))
        data(await client.call_tool("create_message", {"thread_id": thread["id"], "content": '/wait {"seconds": 5}'}))
        run = data(await client.call_tool("create_run", {"thread_id": thread["id"], "wait": False}))
        cancelled = data(await client.call_tool("cancel_run", {"thread_id": thread["id"], "run_id": run["id"]}))
    assert cancelled["status"] == "cancelled"


async def test_it_refuses_a_message_while_a_run_is_active(alice, demo_assistant, close_pool):
    async with connected(alice) as client:
        thread = data(await client.call_tool("create_thread", {"assistant_id": demo_assistant.pk}))
        data(await client.call_tool("create_message", {"thread_id": thread["id"], "content": '/wait {"seconds": 5}'}))
        run = data(await client.call_tool("create_run", {"thread_id": thread["id"], "wait": False}))
        refused = await client.call_tool("create_message", {"thread_id": thread["id"], "content": "more"})
        await client.call_tool("cancel_run", {"thread_id": thread["id"], "run_id": run["id"]})
    assert "active run" in error(refused)


async def test_it_deletes_a_thread(alice):
    thread = await Conversation.objects.acreate(owner=alice)
    async with connected(alice) as client:
        deleted = data(await client.call_tool("delete_thread", {"thread_id": thread.pk}))
    assert deleted["deleted"] is True
    assert not await Conversation.objects.filter(pk=thread.pk).aexists()


async def test_it_rejects_arguments_that_break_the_schema(alice):
    async with connected(alice) as client:
        result = await client.call_tool("list_assistants", {"limit": 0})
    assert "limit" in error(result)


async def test_it_refuses_a_session_without_a_user(alice):
    async with Client(server) as client:
        result = await client.call_tool("list_assistants", {})
    assert "Not authenticated" in error(result)


async def test_it_refuses_a_model_the_offline_provider_cannot_serve(alice, offline_provider):
    async with connected(alice) as client:
        result = await client.call_tool("create_assistant", {"model": "Offline/gpt-4o"})
    assert "serves only the model 'offline'" in error(result)
    assert not await Assistant.objects.aexists()


def test_it_is_described_in_the_readme_with_every_tool_and_their_number():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## MCP endpoint", 1)[1].split("\n## ", 1)[0]
    listing = re.search(r"Its tools: (.*?): (\d+) in all", section, re.DOTALL)
    assert listing, "the README's MCP endpoint section lists the tools and says how many"
    named = set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", listing.group(1))))  # not what they take
    assert named == TOOLS == set(server._tool_manager._tools)
    assert int(listing.group(2)) == len(TOOLS)
