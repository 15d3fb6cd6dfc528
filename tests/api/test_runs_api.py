"""Runs and run steps over HTTP: created on the process's event loop, polled, streamed, cancelled, approved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chat.models import Conversation, Message, Run, RunStep
from chat.services import run_wait
from core.tokens import token_create
from mcp_servers.models import MCPServer
from tests.api.conftest import AsyncApi, error_of, sse_events
from tests.ws import receive, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thread(alice) -> Conversation:
    return Conversation.objects.create(owner=alice)


async def add_message(thread: Conversation, content: str) -> None:
    await Message.objects.acreate(conversation=thread, role="user", content=content)


async def start(api: AsyncApi, thread: Conversation, assistant_id: str, content: str, **body: Any) -> dict:
    await add_message(thread, content)
    response = await api.post(f"threads/{thread.pk}/runs", {"assistant_id": assistant_id, **body})
    assert response.status_code == 200, response.content
    return response.json()


async def finished(alice, run: dict) -> Run:
    return await run_wait(user=alice, run_id=run["id"], timeout=30)


async def test_it_creates_a_run_that_answers_the_thread(alice, alice_async, thread, demo_assistant):
    run = await start(alice_async, thread, demo_assistant.pk, "hello api", metadata={"k": "v"})
    assert (run["object"], run["status"], run["thread_id"]) == ("thread.run", "queued", thread.pk)
    assert (run["assistant_id"], run["model"], run["metadata"]) == (demo_assistant.pk, "offline", {"k": "v"})
    assert (await finished(alice, run)).status == Run.Status.COMPLETED
    messages = (await alice_async.get(f"threads/{thread.pk}/messages", order="asc")).json()["data"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert "hello api" in messages[1]["content"][0]["text"]["value"]
    assert messages[1]["run_id"] == run["id"]
    await thread.arefresh_from_db()
    assert thread.assistant_id == demo_assistant.pk


async def test_it_streams_a_run_as_server_sent_events(alice_async, thread, demo_assistant):
    await add_message(thread, '/add {"a": 2, "b": 3}')
    response = await alice_async.post(f"threads/{thread.pk}/runs", {"assistant_id": demo_assistant.pk, "stream": True})
    assert response["Content-Type"] == "text/event-stream"
    events = await sse_events(response)
    names = [name for name, _ in events]
    assert names[:2] == ["thread.run.created", "thread.run.queued"]
    assert "thread.run.step.created" in names and "thread.message.delta" in names
    assert names[-2:] == ["thread.run.completed", "done"]
    assert events[-1][1] == "[DONE]"
    tool = next(data for name, data in events if name == "thread.run.step.completed" and data["type"] == "tool_calls")
    assert tool["step_details"]["tool_calls"][0]["function"]["output"] == "5"


async def test_it_creates_a_thread_and_runs_it(alice, alice_async, demo_assistant):
    response = await alice_async.post(
        "threads/runs",
        {"assistant_id": demo_assistant.pk, "thread": {"messages": [{"role": "user", "content": "one go"}]}},
    )
    assert response.status_code == 200, response.content
    run = response.json()
    assert (await finished(alice, run)).status == Run.Status.COMPLETED
    thread = await Conversation.objects.aget(pk=run["thread_id"], owner=alice)
    assert await thread.messages.acount() == 2


async def test_it_streams_a_new_thread_from_its_creation(alice_async, demo_assistant):
    response = await alice_async.post(
        "threads/runs",
        {"assistant_id": demo_assistant.pk, "stream": True, "thread": {"messages": [{"role": "user", "content": "x"}]}},
    )
    names = [name for name, _ in await sse_events(response)]
    assert names[:2] == ["thread.created", "thread.run.created"]
    assert names[-2:] == ["thread.run.completed", "done"]


async def test_it_leaves_no_thread_behind_when_the_run_is_refused(alice_async, demo_assistant):
    response = await alice_async.post(
        "threads/runs", {"assistant_id": demo_assistant.pk, "model": "another", "thread": {}}
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "model"
    assert not await Conversation.objects.aexists()


async def test_it_leaves_no_thread_behind_when_its_run_limits_are_refused(alice_async, demo_assistant):
    body = {"assistant_id": demo_assistant.pk, "thread": {"messages": [{"role": "user", "content": "x"}]}}
    response = await alice_async.post("threads/runs", {**body, "truncation_strategy": {"type": "last_messages"}})
    assert response.status_code == 400
    assert error_of(response)["param"] == "truncation_strategy.last_messages"
    assert not await Conversation.objects.aexists()


async def test_it_refuses_a_second_active_run(alice_async, thread, demo_assistant):
    await Run.objects.acreate(conversation=thread, assistant=demo_assistant)
    response = await alice_async.post(f"threads/{thread.pk}/runs", {"assistant_id": demo_assistant.pk})
    assert response.status_code == 409
    assert error_of(response)["code"] == "run_active"


async def test_it_refuses_an_unknown_assistant(alice_async, thread, offline_provider):
    response = await alice_async.post(f"threads/{thread.pk}/runs", {"assistant_id": "asst_nope"})
    assert response.status_code == 404
    assert error_of(response)["param"] == "assistant_id"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({}, 400, "assistant_id"),
        ({"temperature": 3}, 400, "temperature"),
        ({"max_prompt_tokens": 100}, 400, "max_prompt_tokens"),
        ({"max_prompt_tokens": "many"}, 400, "max_prompt_tokens"),
        (
            {"truncation_strategy": {"type": "last_messages", "last_messages": 0}},
            400,
            "truncation_strategy.last_messages",
        ),
        ({"truncation_strategy": "auto"}, 400, "truncation_strategy"),
        ({"reasoning_effort": "high"}, 400, "reasoning_effort"),
        ({"tools": [{"type": "code_interpreter"}]}, 400, "tools[0]"),
        ({"colour": "red"}, 400, "colour"),
        ({"metadata": {"k": 1}}, 400, "metadata"),
    ],
)
async def test_it_rejects_bad_run_requests(alice_async, thread, demo_assistant, body, status, param):
    body = {"assistant_id": demo_assistant.pk, **body} if "assistant_id" != param else body
    response = await alice_async.post(f"threads/{thread.pk}/runs", body)
    assert response.status_code == status
    assert error_of(response)["param"] == param
    assert not await Run.objects.aexists()


async def test_it_accepts_unmapped_fields_when_null(alice, alice_async, thread, demo_assistant):
    run = await start(alice_async, thread, demo_assistant.pk, "hi", temperature=None, tools=None, stream=False)
    assert (await finished(alice, run)).status == Run.Status.COMPLETED


async def test_it_lists_retrieves_and_modifies_runs(alice, alice_async, thread, demo_assistant):
    run = await start(alice_async, thread, demo_assistant.pk, "hi")
    await finished(alice, run)
    listed = (await alice_async.get(f"threads/{thread.pk}/runs")).json()
    assert [r["id"] for r in listed["data"]] == [run["id"]]
    retrieved = (await alice_async.get(f"threads/{thread.pk}/runs/{run['id']}")).json()
    assert retrieved["status"] == "completed" and retrieved["usage"]["total_tokens"] > 0
    modified = await alice_async.post(f"threads/{thread.pk}/runs/{run['id']}", {"metadata": {"seen": "1"}})
    assert modified.json()["metadata"] == {"seen": "1"}


async def test_it_asks_polling_clients_to_come_back_soon(alice_async, thread, demo_assistant):
    queued = await Run.objects.acreate(conversation=thread, assistant=demo_assistant)
    response = await alice_async.get(f"threads/{thread.pk}/runs/{queued.pk}")
    assert response["openai-poll-after-ms"] == "250"


async def test_it_lists_and_retrieves_run_steps(alice, alice_async, thread, demo_assistant):
    run = await start(alice_async, thread, demo_assistant.pk, '/add {"a": 1, "b": 1}')
    await finished(alice, run)
    steps = (await alice_async.get(f"threads/{thread.pk}/runs/{run['id']}/steps", order="asc")).json()["data"]
    assert [s["type"] for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0]["step_details"]["tool_calls"][0]["function"]["output"] == "2"
    one = await alice_async.get(f"threads/{thread.pk}/runs/{run['id']}/steps/{steps[1]['id']}")
    assert one.json() == steps[1]


async def test_it_hides_another_users_runs_and_steps(alice, alice_async, bob, thread, demo_assistant):
    run = await start(alice_async, thread, demo_assistant.pk, "hi")
    await finished(alice, run)
    step = await RunStep.objects.filter(run_id=run["id"]).afirst()
    bob_api = AsyncApi(alice_async.client, (await sync_to_async(token_create)(user=bob, name="b"))[1])
    for response in (
        await bob_api.get(f"threads/{thread.pk}/runs"),
        await bob_api.get(f"threads/{thread.pk}/runs/{run['id']}"),
        await bob_api.post(f"threads/{thread.pk}/runs/{run['id']}", {"metadata": {}}),
        await bob_api.post(f"threads/{thread.pk}/runs/{run['id']}/cancel"),
        await bob_api.get(f"threads/{thread.pk}/runs/{run['id']}/steps"),
        await bob_api.get(f"threads/{thread.pk}/runs/{run['id']}/steps/{step.pk}"),
        await bob_api.post(f"threads/{thread.pk}/runs", {"assistant_id": demo_assistant.pk}),
    ):
        assert response.status_code == 404


async def test_it_cancels_a_run(alice, alice_async, thread, demo_assistant):
    await add_message(thread, '/wait {"seconds": 20}')
    response = await alice_async.post(f"threads/{thread.pk}/runs", {"assistant_id": demo_assistant.pk, "stream": True})
    stream = response.streaming_content.__aiter__()
    run_id, chunk = None, ""
    while run_id is None or "thread.run.step.in_progress" not in chunk:
        chunk = (await anext(stream)).decode()
        if chunk.startswith("event: thread.run.created"):
            run_id = json.loads(chunk.split("data: ", 1)[1])["id"]
    cancelled = await alice_async.post(f"threads/{thread.pk}/runs/{run_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] in ("cancelling", "cancelled")
    rest = "".join([chunk.decode() async for chunk in stream])
    assert "event: thread.run.cancelled" in rest and rest.endswith("event: done\ndata: [DONE]\n\n")
    assert (await Run.objects.aget(pk=run_id)).status == Run.Status.CANCELLED


async def test_it_refuses_to_cancel_a_finished_run(alice, alice_async, thread, demo_assistant):
    run = await start(alice_async, thread, demo_assistant.pk, "hi")
    await finished(alice, run)
    response = await alice_async.post(f"threads/{thread.pk}/runs/{run['id']}/cancel")
    assert response.status_code == 409
    assert error_of(response)["code"] == "run_not_active"


@pytest.fixture
def approving_server(demo_server) -> MCPServer:
    demo_server.approval = MCPServer.Approval.ALWAYS
    demo_server.save()
    return demo_server


async def paused(alice, alice_async, thread, assistant, content: str) -> tuple[dict, str]:
    run = await start(alice_async, thread, assistant.pk, content)
    assert (await finished(alice, run)).status == Run.Status.REQUIRES_ACTION
    body = (await alice_async.get(f"threads/{thread.pk}/runs/{run['id']}")).json()
    calls = body["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert body["required_action"]["type"] == "submit_tool_outputs"
    assert calls[0]["function"]["name"] == "draw_dot"
    return run, calls[0]["id"]


async def test_it_resumes_a_paused_run_when_the_tool_is_approved(
    alice, alice_async, thread, approving_server, demo_assistant
):
    run, call_id = await paused(alice, alice_async, thread, demo_assistant, "/draw_dot")
    response = await alice_async.post(
        f"threads/{thread.pk}/runs/{run['id']}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": call_id, "output": "approve"}]},
    )
    assert response.status_code == 200, response.content
    assert (await finished(alice, run)).status == Run.Status.COMPLETED
    step = await RunStep.objects.aget(run_id=run["id"], type="tool_calls")
    assert step.status == "completed" and step.output


async def test_it_streams_a_denied_tool_to_the_end(alice, alice_async, thread, approving_server, demo_assistant):
    run, call_id = await paused(alice, alice_async, thread, demo_assistant, "/draw_dot")
    response = await alice_async.post(
        f"threads/{thread.pk}/runs/{run['id']}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": call_id, "output": "not now"}], "stream": True},
    )
    names = [name for name, _ in await sse_events(response)]
    assert names[-2:] == ["thread.run.completed", "done"]
    step = await RunStep.objects.aget(run_id=run["id"], type="tool_calls")
    assert step.status == "cancelled" and "not now" in step.output
    listed = (await alice_async.get(f"threads/{thread.pk}/runs/{run['id']}/steps/{step.pk}")).json()
    assert listed["metadata"]["approval"] == "denied"


async def test_it_refuses_outputs_for_an_unknown_tool_call(
    alice, alice_async, thread, approving_server, demo_assistant
):
    run, _ = await paused(alice, alice_async, thread, demo_assistant, "/draw_dot")
    response = await alice_async.post(
        f"threads/{thread.pk}/runs/{run['id']}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": "call_other", "output": "approve"}]},
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "tool_outputs[0].tool_call_id"


async def test_it_refuses_outputs_for_a_run_that_is_not_paused(alice, alice_async, thread, demo_assistant):
    run = await start(alice_async, thread, demo_assistant.pk, "hi")
    await finished(alice, run)
    response = await alice_async.post(
        f"threads/{thread.pk}/runs/{run['id']}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": "call_1", "output": "approve"}]},
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "run_not_paused"


async def test_it_shows_an_added_message_to_whoever_watches_the_thread(alice, alice_async, thread):
    ws = await ws_connect(thread.pk, alice)
    response = await alice_async.post(f"threads/{thread.pk}/messages", {"role": "user", "content": "from a script"})
    frame = await receive(ws)
    assert frame["event"] == "thread.message.created"
    assert frame["data"]["id"] == response.json()["id"]
    await ws.disconnect()


async def test_it_adds_additional_messages_before_the_run(alice, alice_async, thread, demo_assistant):
    response = await alice_async.post(
        f"threads/{thread.pk}/runs",
        {"assistant_id": demo_assistant.pk, "additional_messages": [{"role": "user", "content": "added late"}]},
    )
    assert response.status_code == 200, response.content
    assert (await finished(alice, response.json())).status == Run.Status.COMPLETED
    answer = await Message.objects.filter(conversation=thread, role="assistant").aget()
    assert "added late" in answer.content


async def test_it_names_a_bad_additional_message_and_stores_nothing(alice_async, thread, demo_assistant):
    response = await alice_async.post(
        f"threads/{thread.pk}/runs",
        {
            "assistant_id": demo_assistant.pk,
            "additional_messages": [{"role": "user", "content": "fine"}, {"role": "user", "content": ""}],
        },
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "additional_messages[1].content"
    assert not await Message.objects.aexists()
    assert not await Run.objects.aexists()


async def test_it_accepts_openais_include_on_run_steps_only_with_its_known_value(
    alice, alice_async, thread, demo_assistant
):
    run = await start(alice_async, thread, demo_assistant.pk, "hi")
    await finished(alice, run)
    path = f"threads/{thread.pk}/runs/{run['id']}/steps"
    known = "step_details.tool_calls[*].file_search.results[*].content"
    assert (await alice_async.get(path, **{"include[]": known})).status_code == 200
    response = await alice_async.get(path, **{"include[]": "everything"})
    assert response.status_code == 400
    assert error_of(response)["param"] == "include[]"


def test_it_refuses_two_function_tools_of_one_name_on_an_assistant_and_a_run(alice_api, demo_assistant):
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    created = alice_api.post("assistants", {"model": "offline", "tools": [tool, tool]})
    assert created.status_code == 400 and created.json()["error"]["param"] == "tools[1].function.name"
    thread = alice_api.post("threads", {}).json()
    run = alice_api.post(f"threads/{thread['id']}/runs", {"assistant_id": demo_assistant.pk, "tools": [tool, tool]})
    assert run.status_code == 400 and run.json()["error"]["param"] == "tools[1].function.name"
    assert not Run.objects.exists()
