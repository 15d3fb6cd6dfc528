"""Tool cards say how a call ended: completed, failed, stopped with the answer, or refused by the user; a running
card counts its seconds."""

from __future__ import annotations

import pytest

from chat.models import Conversation, RunStep
from chat.timeline import event_entry, resync_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Tools")


def _card(conversation: Conversation, *, run_status: str, step_status: str, metadata: dict | None = None, **step):
    run = conversation.runs.create(assistant=conversation.assistant, status=run_status, metadata=metadata or {})
    RunStep.objects.create(
        run=run, type="tool_calls", status=step_status, tool_name="draw_dot", tool_call_id="call_1", **step
    )
    (entry,) = resync_answer(conversation_id=conversation.pk, after=None)["entries"][:1]
    return entry["html"]


def test_it_says_a_refused_call_was_denied_even_after_a_reload(conversation):
    html = _card(
        conversation,
        run_status="completed",
        step_status="cancelled",
        metadata={"approvals": {"call_1": {"approve": False}}},
        output="The user refused this tool call.",
    )

    assert 'class="tool-card tool-cancelled tool-denied"' in html
    assert '<span class="tool-status">Denied</span>' in html
    assert "Cancelled" not in html and "Stopped" not in html
    assert "You refused this call" in html


def test_it_says_a_call_cut_off_by_stop_was_stopped(conversation):
    html = _card(conversation, run_status="cancelled", step_status="cancelled")

    assert 'class="tool-card tool-cancelled"' in html
    assert '<span class="tool-status">Stopped</span>' in html
    assert "Cancelled" not in html and "Denied" not in html


def test_it_shows_a_failed_call_with_its_error(conversation):
    html = _card(conversation, run_status="completed", step_status="failed", error="size must be a number")

    assert 'class="tool-card tool-failed"' in html
    assert '<span class="tool-status">Failed</span>' in html
    assert '<pre class="tool-error">size must be a number</pre>' in html


def test_it_gives_a_running_call_a_clock(conversation):
    html = _card(conversation, run_status="in_progress", step_status="in_progress")

    step = RunStep.objects.get()
    assert f'class="tool-elapsed muted" data-started="{int(step.created_at.timestamp())}" data-now="' in html


def test_it_gives_a_call_waiting_for_approval_no_clock(conversation):
    calls = [{"id": "call_1", "type": "function", "function": {"name": "draw_dot", "arguments": "{}"}}]
    action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
    html = _card(
        conversation, run_status="requires_action", step_status="in_progress", metadata={"required_action": action}
    )

    assert "Waiting for approval" in html and "tool-elapsed" not in html


def test_it_shows_long_calls_in_seconds(conversation):
    html = _card(conversation, run_status="completed", step_status="completed", output="*", duration_ms=2500)

    assert '<span class="muted">2.5 s</span>' in html


def test_it_draws_no_card_from_a_step_delta():
    delta = {
        "id": "step_1",
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{"index": 0, "id": "call_1"}]}},
    }

    assert event_entry("thread.run.step.delta", delta) is None


def _running_step(progress: dict | None) -> dict:
    return {
        "id": "step_1",
        "object": "thread.run.step",
        "run_id": "run_1",
        "thread_id": "thread_1",
        "type": "tool_calls",
        "status": "in_progress",
        "created_at": 1_700_000_000,
        "last_error": None,
        "step_details": {"type": "tool_calls", "tool_calls": [{"id": "call_1", "function": {"name": "count"}}]},
        "metadata": {"server": "demo", **(progress or {})},
    }


def test_it_shows_a_tools_reported_progress_as_a_bar():
    entry = event_entry(
        "thread.run.step.in_progress",
        _running_step({"progress": "3", "progress_total": "10", "progress_message": "3 <b>of</b> 10"}),
    )

    html = entry["html"]
    assert '<progress max="10" value="3" aria-label="Progress of count">' in html
    assert '<span class="tool-progress-message">3 &lt;b&gt;of&lt;/b&gt; 10</span>' in html
    # Each report changes the card's signature, so the page swaps in the newer bar.
    assert 'data-sig="in_progress:3"' in html


def test_it_shows_progress_without_a_total_as_a_moving_bar():
    html = event_entry("thread.run.step.in_progress", _running_step({"progress": "4"}))["html"]

    assert '<progress aria-label="Progress of count"></progress> <span class="muted">4</span>' in html


def test_it_shows_no_bar_for_a_tool_that_reports_no_progress():
    html = event_entry("thread.run.step.in_progress", _running_step(None))["html"]

    assert "<progress" not in html and 'data-sig="in_progress"' in html
