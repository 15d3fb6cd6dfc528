from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection

from chat.models import Conversation, Message, Run, RunStep, Usage
from chat.selectors import conversation_model_input
from tests.ws import collect_until, names, receive, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


async def test_it_streams_a_full_turn_with_a_tool_call(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/add {"a": 2, "b": 3}'})
    frames = await collect_until(ws, *TERMINAL)
    events = names(frames)

    assert events[0] == "thread.message.created"
    assert events[1] == "thread.run.created"
    assert events[-1] == "thread.run.completed"
    # The run starts while it is announced, but its own events follow the announcement.
    assert events.index("thread.run.queued") < events.index("thread.run.in_progress")
    tool_done = next(
        f["data"] for f in frames if f["event"] == "thread.run.step.completed" and f["data"]["type"] == "tool_calls"
    )
    call = tool_done["step_details"]["tool_calls"][0]
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    assert call["function"]["output"] == "5"
    assert tool_done["metadata"]["server"] == "demo"
    deltas = [f["data"] for f in frames if f["event"] == "thread.message.delta"]
    assert deltas  # how many depends on how fast the model streams against the channel layer
    assert events.index("thread.run.step.completed") < events.index("thread.message.delta")
    streamed = "".join(d["delta"]["content"][0]["text"]["value"] for d in deltas)

    run = await Run.objects.aget(conversation=conversation)
    assert run.status == Run.Status.COMPLETED
    assert run.total_tokens > 0
    messages = [m async for m in Message.objects.filter(conversation=conversation).order_by("id")]
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content == streamed
    assert "5" in streamed
    step = await RunStep.objects.aget(run=run, type=RunStep.Type.TOOL_CALLS)
    assert (step.tool_name, step.server_name, step.output, step.status) == ("add", "demo", "5", "completed")
    assert step.duration_ms is not None
    steps = [s async for s in RunStep.objects.filter(run=run)]
    assert all(s.total_tokens > 0 for s in steps)
    assert sum(s.total_tokens for s in steps) == run.total_tokens
    completed = next(f["data"] for f in frames if f["event"] == "thread.message.completed")
    assert completed["id"] == messages[1].id
    await ws.disconnect()


async def test_it_feeds_earlier_tool_results_into_the_next_turn(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "/draw_dot"})
    await collect_until(ws, *TERMINAL)
    await ws.send_json_to({"type": "message.create", "content": "what did you draw?"})
    frames = await collect_until(ws, *TERMINAL)
    assert frames[-1]["event"] == "thread.run.completed"
    await ws.disconnect()

    from asgiref.sync import sync_to_async

    items = await sync_to_async(conversation_model_input)(conversation_id=conversation.pk)
    kinds = [i.get("type") or i["role"] for i in items]
    assert kinds == ["user", "function_call", "function_call_output", "assistant", "user", "assistant"]
    assert items[2]["output"] == "*"
    assert items[1]["name"] == "draw_dot"


async def test_it_reports_a_tool_error_and_still_answers(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/add {"a": "x", "b": 1}'})
    frames = await collect_until(ws, *TERMINAL)
    assert frames[-1]["event"] == "thread.run.completed"
    failed = next(f["data"] for f in frames if f["event"] == "thread.run.step.failed")
    assert "valid number" in failed["last_error"]["message"]
    step = await RunStep.objects.aget(run__conversation=conversation, type=RunStep.Type.TOOL_CALLS)
    assert step.status == RunStep.Status.FAILED and "valid number" in step.error
    assert await Message.objects.filter(conversation=conversation, role="assistant", status="completed").aexists()
    await ws.disconnect()


async def test_it_cancels_a_run_mid_tool_call(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/wait {"seconds": 30}'})
    frames = await collect_until(ws, "thread.run.step.in_progress")
    run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
    await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
    frames = await collect_until(ws, *TERMINAL, timeout=10)
    assert frames[-1]["event"] == "thread.run.cancelled"
    run = await Run.objects.aget(pk=run_id)
    assert run.status == Run.Status.CANCELLED and run.cancelled_at is not None
    step = await RunStep.objects.aget(run=run, type=RunStep.Type.TOOL_CALLS)
    assert step.status == RunStep.Status.CANCELLED
    # The user's message is kept and the conversation takes the next message at once.
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 1
    await ws.send_json_to({"type": "message.create", "content": "/draw_dash"})
    frames = await collect_until(ws, *TERMINAL)
    assert frames[-1]["event"] == "thread.run.completed"
    await ws.disconnect()


async def test_it_fails_the_run_clearly_when_the_provider_is_unreachable(alice, conversation, unused_tcp_port):
    assistant = conversation.assistant
    provider = assistant.provider
    provider.kind = "openai_compatible"
    provider.api_style = "chat_completions"
    provider.base_url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    provider.api_key = "sk-test-secret-value"
    provider.max_retries = 0
    provider.default_model = "gpt-test"
    await provider.asave()
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "hello"})
    frames = await collect_until(ws, *TERMINAL)
    assert frames[-1]["event"] == "thread.run.failed"
    error = frames[-1]["data"]["last_error"]
    assert error["code"] == "provider_unreachable"
    assert f"127.0.0.1:{unused_tcp_port}" in error["message"]
    assert all("sk-test-secret-value" not in json.dumps(f) for f in frames)
    run = await Run.objects.aget(conversation=conversation)
    assert run.status == Run.Status.FAILED and run.last_error == error["message"]
    assert await Message.objects.filter(conversation=conversation, role="user", content="hello").aexists()
    await ws.disconnect()


def _on_first_answer_insert(action):
    """Run `action` on the first INSERT of an assistant message, through Django's own query hooks, in the
    database thread the async ORM uses: the write fails, or is slow, for real. `writes` lists the message writes."""
    writes = []

    def wrapper(execute, sql, params, many, context):
        is_answer = sql.startswith('INSERT INTO "chat_message"') and "assistant" in (params or ())
        if is_answer or sql.startswith('UPDATE "chat_message"'):
            writes.append(sql)
        if is_answer and len(writes) == 1:
            return action(execute, sql, params, many, context)
        return execute(sql, params, many, context)

    def install():
        connection.execute_wrappers.append(wrapper)

    def remove():
        connection.execute_wrappers.remove(wrapper)

    return writes, sync_to_async(install), sync_to_async(remove)


async def test_it_stores_the_answer_when_its_first_write_failed(alice, conversation):
    """The answer's rows are first written while it streams; if that write fails, the final write
    inserts them whole, with the same ids and creation time the events announced."""

    def fail(execute, sql, params, many, context):
        raise OperationalError("database is locked")

    writes, install, remove = _on_first_answer_insert(fail)
    await install()
    try:
        ws = await ws_connect(conversation.pk, alice)
        await ws.send_json_to({"type": "message.create", "content": "hello"})
        frames = await collect_until(ws, *TERMINAL)
        await ws.disconnect()
    finally:
        await remove()

    assert frames[-1]["event"] == "thread.run.completed"
    assert len(writes) == 2  # the failed first write, then the whole insert
    created = next(
        f["data"] for f in frames if f["event"] == "thread.message.created" and f["data"]["role"] == "assistant"
    )
    answer = await Message.objects.aget(pk=created["id"])
    assert answer.status == Message.Status.COMPLETED and answer.content.startswith("I am the offline model")
    assert int(answer.created_at.timestamp()) == created["created_at"]
    assert await RunStep.objects.filter(message=answer, status=RunStep.Status.COMPLETED).aexists()


async def test_it_keeps_the_answers_last_write_when_stopped_while_it_waits(alice, conversation):
    """Stop lands while the finished answer waits for its slow first write, its last write (with the run's end)
    already begun: the run ends as it was ending, answered, its answer stored whole and its usage counted once."""

    def slow(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        time.sleep(0.5)  # written as it was at the start, but slow to report back: a slow database
        return result

    writes, install, remove = _on_first_answer_insert(slow)
    await install()
    try:
        ws = await ws_connect(conversation.pk, alice)
        await ws.send_json_to({"type": "message.create", "content": "hello"})
        frames = await collect_until(ws, "thread.run.created")
        run_id = frames[-1]["data"]["id"]
        # The offline model's whole answer has streamed: it now waits for the first write.
        text = ""
        while not text.endswith("to see the tools I can call."):
            frame = await receive(ws)
            if frame["event"] == "thread.message.delta":
                text += frame["data"]["delta"]["content"][0]["text"]["value"]
        await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
        ending = await collect_until(ws, *TERMINAL)
        await ws.disconnect()
    finally:
        await remove()

    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert ending[-1]["event"] == "thread.run.completed"
    assert len(writes) == 2, "the answer's last write was dropped"
    assert answer.status == Message.Status.COMPLETED
    assert answer.content.startswith("I am the offline model")
    run = await Run.objects.aget(pk=run_id)
    assert run.status == Run.Status.COMPLETED
    usage = [row async for row in Usage.objects.filter(run_id=run_id)]
    assert len(usage) == 1 and run.completion_tokens == usage[0].completion_tokens > 0
