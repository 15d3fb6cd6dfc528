"""Every tool is scoped to the caller: another user's objects are not found, exactly like missing ones."""

from __future__ import annotations

import pytest

from assistants.models import Assistant
from chat.models import Conversation, Message, Run
from tests.mcp.helpers import connected, data, error

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alices(alice, offline_provider):
    assistant = Assistant.objects.create(owner=alice, name="Alice's", provider=offline_provider)
    thread = Conversation.objects.create(owner=alice, assistant=assistant)
    Message.objects.create(conversation=thread, role="user", content="private")
    run = Run.objects.create(conversation=thread, assistant=assistant, status=Run.Status.COMPLETED)
    return {"assistant_id": assistant.pk, "thread_id": thread.pk, "run_id": run.pk}


CALLS = [
    ("get_assistant", ["assistant_id"], {}, "No assistant found"),
    ("update_assistant", ["assistant_id"], {"name": "Mine now"}, "No assistant found"),
    ("delete_assistant", ["assistant_id"], {}, "No assistant found"),
    ("create_thread", ["assistant_id"], {}, "No assistant found"),
    ("get_thread", ["thread_id"], {}, "No thread found"),
    ("delete_thread", ["thread_id"], {}, "No thread found"),
    ("create_message", ["thread_id"], {"content": "hi"}, "No thread found"),
    ("list_messages", ["thread_id"], {}, "No thread found"),
    ("create_run", ["thread_id"], {}, "No thread found"),
    ("list_runs", ["thread_id"], {}, "No thread found"),
    ("get_run", ["thread_id", "run_id"], {}, "No run found"),
    ("cancel_run", ["thread_id", "run_id"], {}, "No run found"),
    ("list_run_steps", ["thread_id", "run_id"], {}, "No run found"),
]


@pytest.mark.parametrize(("tool", "ids", "extra", "refusal"), CALLS, ids=[call[0] for call in CALLS])
async def test_it_does_not_find_another_users_objects(bob, alices, tool, ids, extra, refusal):
    async with connected(bob) as client:
        result = await client.call_tool(tool, {**{name: alices[name] for name in ids}, **extra})
    assert refusal in error(result)
    assert "private" not in error(result)


async def test_it_leaves_another_users_objects_unchanged(bob, alices):
    async with connected(bob) as client:
        await client.call_tool("delete_thread", {"thread_id": alices["thread_id"]})
        await client.call_tool("delete_assistant", {"assistant_id": alices["assistant_id"]})
    assert await Conversation.objects.filter(pk=alices["thread_id"]).aexists()
    assert await Assistant.objects.filter(pk=alices["assistant_id"]).aexists()


async def test_it_does_not_list_another_users_assistants(alice, bob, alices, demo_assistant):
    async with connected(bob) as client:
        listed = data(await client.call_tool("list_assistants", {}))
    assert [a["id"] for a in listed["data"]] == [demo_assistant.pk]


async def test_it_shows_a_shared_assistant_but_refuses_to_change_it(bob, demo_assistant):
    async with connected(bob) as client:
        shown = data(await client.call_tool("get_assistant", {"assistant_id": demo_assistant.pk}))
        refused = await client.call_tool("update_assistant", {"assistant_id": demo_assistant.pk, "name": "Bob's"})
    assert shown["name"] == "Demo assistant"
    assert "Only an administrator can change a shared assistant" in error(refused)
