"""The chat page's server side: Markdown, the snapshot a page redraws from, regenerate and retry."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat.markdown import markdown_render
from chat.models import Conversation, Message, Run, RunStep
from chat.timeline import conversation_state
from tests.ws import collect_until, receive, ws_connect

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled")


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant, title="UX")


def _failed_turn(conversation: Conversation, content: str = "please answer") -> Run:
    run = conversation.runs.create(
        assistant=conversation.assistant, status="failed", last_error_code="provider_error", last_error="It broke."
    )
    Message.objects.create(conversation=conversation, role="user", content=content, run=run)
    return run


def test_it_labels_code_blocks_with_their_language():
    html = markdown_render("```python\nprint('<b>')\n```")
    assert html.startswith('<div class="code-block"><div class="code-head"><span class="code-lang">python</span></div>')
    assert "'&lt;b&gt;'" in html


def test_it_keeps_raw_html_and_unsafe_links_inert():
    html = markdown_render("<img src=x onerror=alert(1)> [ok](https://example.com) [bad](javascript:alert(1))")
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<a href="https://example.com" rel="noopener noreferrer">ok</a>' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")


@pytest.mark.django_db
def test_it_places_a_failed_runs_note_after_its_last_entry(conversation):
    failed = _failed_turn(conversation)
    later = conversation.runs.create(assistant=conversation.assistant, status="completed")
    Message.objects.create(conversation=conversation, role="user", content="again", run=later)
    kinds = [
        (
            entry["kind"],
            entry["item"]["content"][0]["text"]["value"] if entry["kind"] == "message" else entry["key"][2:],
        )
        for entry in conversation_state(conversation=conversation)["entries"]
    ]
    assert kinds == [("message", "please answer"), ("run", failed.pk), ("message", "again")]


@pytest.mark.django_db(transaction=True)
async def test_it_sends_a_snapshot_of_the_conversation_on_request(alice, conversation):
    run = await sync_to_async(_failed_turn)(conversation)
    await RunStep.objects.acreate(
        run=run, type="tool_calls", status="failed", tool_name="draw_dot", tool_call_id="c1", error="no"
    )
    await Message.objects.acreate(conversation=conversation, role="assistant", content="**partial**", run=run)
    ws = await ws_connect(conversation.pk, alice)

    await ws.send_json_to({"type": "thread.snapshot"})
    frame = await receive(ws)

    assert frame["event"] == "thread.snapshot"
    snapshot = frame["data"]
    assert [item["kind"] for item in snapshot["timeline"]] == ["message", "step", "message", "run"]
    assert snapshot["timeline"][2]["data"]["content_html"] == "<p><strong>partial</strong></p>\n"
    assert "content_html" not in snapshot["timeline"][0]["data"]  # user text is shown as text, never as HTML
    assert snapshot["active_run"] is None and snapshot["latest_run"]["status"] == "failed"
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_adds_rendered_markdown_to_completed_messages_on_the_socket(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)

    await ws.send_json_to({"type": "message.create", "content": "say **this**"})
    frames = await collect_until(ws, *TERMINAL)

    [completed] = [f["data"] for f in frames if f["event"] == "thread.message.completed"]
    assert "<strong>this</strong>" in completed["content_html"]
    assert all("content_html" not in f["data"] for f in frames if f["event"] != "thread.message.completed")
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_regenerates_the_last_answer_in_place_and_keeps_the_old_run(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "/draw_dot"})
    await collect_until(ws, *TERMINAL)
    old_answer = await Message.objects.aget(conversation=conversation, role="assistant")

    await ws.send_json_to({"type": "message.regenerate"})
    frames = await collect_until(ws, *TERMINAL)

    question = await Message.objects.aget(conversation=conversation, role="user")
    # Every open page drops what followed the question; the old answer and its tool call stay, off the branch.
    assert frames[0]["event"] == "thread.timeline.truncated" and frames[0]["data"]["after"] == question.pk
    assert frames[-1]["event"] == "thread.run.completed"
    answers = [m async for m in Message.objects.filter(conversation=conversation, role="assistant")]
    assert len(answers) == 2 and answers[0].pk == old_answer.pk
    assert answers[0].parent_id == question.pk == answers[1].parent_id
    assert await Run.objects.filter(conversation=conversation).acount() == 2  # the old run's usage still counts
    question = await Message.objects.aget(conversation=conversation, role="user")
    assert question.run_id == frames[-1]["data"]["id"]
    assert await RunStep.objects.filter(run__conversation=conversation, type="tool_calls").acount() == 2
    await ws.send_json_to({"type": "thread.snapshot"})
    shown = [e["data"]["id"] for e in (await receive(ws))["data"]["timeline"] if e["kind"] == "message"]
    assert shown == [question.pk, answers[1].pk]
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_retries_a_failed_run_and_drops_its_note(alice, conversation):
    failed = await sync_to_async(_failed_turn)(conversation)
    ws = await ws_connect(conversation.pk, alice)

    await ws.send_json_to({"type": "run.retry"})
    frames = await collect_until(ws, *TERMINAL)

    assert frames[-1]["event"] == "thread.run.completed" and frames[-1]["data"]["id"] != failed.pk
    await ws.send_json_to({"type": "thread.snapshot"})
    snapshot = (await receive(ws))["data"]
    assert [i["kind"] for i in snapshot["timeline"]] == ["message", "message"]
    assert "please answer" in snapshot["timeline"][1]["data"]["content"][0]["text"]["value"]
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_to_regenerate_while_a_run_is_active(alice, conversation):
    await Message.objects.acreate(conversation=conversation, role="user", content="hi")
    await conversation.runs.acreate(assistant=conversation.assistant, status="in_progress", heartbeat_at=timezone.now())
    ws = await ws_connect(conversation.pk, alice)

    await ws.send_json_to({"type": "message.regenerate"})

    assert (await receive(ws))["data"]["code"] == "run_active"
    assert await Message.objects.filter(conversation=conversation).acount() == 1
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_to_regenerate_before_the_first_message(alice, conversation):
    ws = await ws_connect(conversation.pk, alice)

    await ws.send_json_to({"type": "message.regenerate"})

    assert (await receive(ws))["data"]["code"] == "nothing_to_regenerate"
    assert await Run.objects.filter(conversation=conversation).acount() == 0
    await ws.disconnect()
