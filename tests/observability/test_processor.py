from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import agents
import pytest
from agents.tracing import SpanData, get_trace_provider
from django.conf import settings

from observability.models import Span, Trace
from tests.observability.conftest import new_trace_id, run_trace

pytestmark = pytest.mark.django_db(transaction=True)


def _tool_call(name: str, *, server: str | None, arguments: str = "{}", output: str | None = None, error=None):
    with agents.function_span(name, input=arguments) as span:
        if server is not None:
            span.span_data.mcp_data = {"server": server}
        span.span_data.output = output
        if error is not None:
            span.set_error(error)


def _model_call(model: str = "offline", tokens: tuple[int, int] = (12, 5)):
    with agents.generation_span(model=model) as span:
        span.span_data.usage = {"input_tokens": tokens[0], "output_tokens": tokens[1]}
    return span


def test_it_stores_a_runs_trace_with_its_spans_nested(store, run):
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id):
        with agents.custom_span("run.claim", {}):
            pass
        with agents.custom_span("mcp.connect", {"server": "demo", "transport": "stdio", "reused": False}):
            pass
        with agents.agent_span(name="Tracer", tools=["add"]):
            _model_call(tokens=(12, 0))
            _tool_call("add", server="demo", arguments='{"a": 2, "b": 3}', output="5")
            _model_call(tokens=(20, 7))
    store.force_flush()

    trace = Trace.objects.get(pk=trace_id)
    assert trace.run == run
    assert (trace.workflow, trace.thread_id, trace.user_id) == (
        "switchboard-run",
        run.conversation_id,
        str(run.conversation.owner_id),
    )
    assert (trace.assistant_id, trace.provider, trace.model) == (run.assistant_id, "Offline", "offline")
    assert trace.status == Trace.Status.COMPLETED
    assert (trace.tokens_in, trace.tokens_out, trace.model_calls, trace.tool_calls, trace.tool_failures) == (
        32,
        7,
        2,
        1,
        0,
    )
    assert trace.started_at <= trace.ended_at and trace.duration_ms is not None

    spans = {span.name: span for span in trace.spans.all()}
    assert set(spans) == {"run.claim", "mcp.connect", "Tracer", "model offline", "add", "run.end"}
    agent = spans["Tracer"]
    tool = spans["add"]
    assert (tool.kind, tool.parent_id, tool.server, tool.tool, tool.transport) == (
        "tool",
        agent.span_id,
        "demo",
        "add",
        "stdio",
    )
    assert (tool.argument_bytes, tool.result_bytes, tool.outcome) == (16, 1, "ok")
    models = list(trace.spans.filter(kind="model").order_by("started_at"))
    assert [(m.model, m.provider, m.tokens_in, m.tokens_out) for m in models] == [
        ("offline", "Offline", 12, 0),
        ("offline", "Offline", 20, 7),
    ]
    assert all(m.parent_id == agent.span_id for m in models)
    assert spans["mcp.connect"].server == "demo" and spans["mcp.connect"].data["reused"] is False
    assert all(span.duration_ms is not None and span.duration_ms >= 0 for span in spans.values())


def test_it_keeps_sizes_but_never_contents_or_secrets(store, run):
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id):
        with agents.custom_span(
            "custom.step", {"api_key": "sk-live-secret", "Authorization": "Bearer xyz", "prompt": "private words",
                            "server": "demo", "note": "n" * 5000, "nested": {"password": "hunter2", "ok": 1}},
        ):  # fmt: skip
            pass
        _tool_call("echo", server="demo", arguments='{"message": "private words"}', output="private words back")
        with agents.generation_span(model="offline", input=[{"role": "user", "content": "private words"}]) as span:
            span.span_data.output = [{"role": "assistant", "content": "private words"}]
    store.force_flush()

    stored = json.dumps(list(Span.objects.filter(trace_id=trace_id).values()), default=str)
    assert "private words" not in stored
    assert "sk-live-secret" not in stored and "Bearer xyz" not in stored and "hunter2" not in stored
    custom = Span.objects.get(trace_id=trace_id, name="custom.step")
    assert custom.data["server"] == "demo" and custom.data["nested"] == {"ok": 1}
    assert len(json.dumps(custom.data)) <= 4096
    echo = Span.objects.get(trace_id=trace_id, name="echo")
    assert (echo.argument_bytes, echo.result_bytes) == (len('{"message": "private words"}'), len("private words back"))


def test_it_gives_the_open_model_call_its_time_to_first_token(store, run):
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id):
        with agents.generation_span(model="gpt-test") as call:
            with agents.custom_span("model.first_token", {"ttft_ms": 42.5}):
                pass
    store.force_flush()
    model = Span.objects.get(trace_id=trace_id, span_id=call.span_id)
    assert model.ttft_ms == 42.5
    assert Span.objects.get(trace_id=trace_id, name="model.first_token").ttft_ms == 42.5


def test_it_gives_a_call_that_already_ended_its_first_token(store, run):
    """A fast model (the offline one) ends its call before the executor reads the first token."""
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id):
        first = _model_call(tokens=(3, 0))
        second = _model_call(tokens=(5, 2))
        with agents.custom_span("model.first_token", {"ttft_ms": 7}):
            pass
    store.force_flush()
    assert Span.objects.get(trace_id=trace_id, span_id=second.span_id).ttft_ms == 7
    assert Span.objects.get(trace_id=trace_id, span_id=first.span_id).ttft_ms is None


def test_it_counts_and_marks_failed_and_denied_tool_calls(store, run):
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id, status="failed"):
        _tool_call(
            "add", server=None, error={"message": "Error running tool", "data": {"tool_name": "add", "error": "boom"}}
        )
        _tool_call(
            "draw_dot",
            server=None,
            error={"message": "Tool execution rejected",
                   "data": {"error": "Tool execution for call_1 was manually rejected by user."}},
        )  # fmt: skip
        _tool_call("echo", server="demo")
    store.force_flush()
    trace = Trace.objects.get(pk=trace_id)
    assert (trace.tool_calls, trace.tool_failures, trace.status) == (3, 1, "failed")
    assert trace.error.startswith("add: Error running tool")
    outcomes = dict(Span.objects.filter(trace_id=trace_id, kind="tool").values_list("name", "outcome"))
    assert outcomes == {"add": "error", "draw_dot": "denied", "echo": "ok"}
    failed = Span.objects.get(trace_id=trace_id, name="add")
    assert failed.failed and failed.error["data"]["error"] == "boom"
    assert not Span.objects.get(trace_id=trace_id, name="draw_dot").failed
    assert Span.objects.get(trace_id=trace_id, name="run.end").failed


def test_it_stores_spans_it_does_not_know(store, run):
    class OddSpanData(SpanData):
        @property
        def type(self) -> str:
            return "odd"

        def export(self) -> dict:
            return {"type": "odd", "input": "private words", "size": 3}

    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id):
        with agents.handoff_span(from_agent="A", to_agent="B"):
            pass
        with agents.guardrail_span(name="no_secrets", triggered=True):
            pass
        with agents.mcp_tools_span(server="demo", result=["add", "echo"]):
            pass
        with get_trace_provider().create_span(OddSpanData()):
            pass
        with agents.custom_span("something.new", {"whatever": [1, 2, 3]}):
            pass
    store.force_flush()
    spans = {span.sdk_type: span for span in Span.objects.filter(trace_id=trace_id)}
    assert spans["handoff"].name == "handoff A → B" and spans["handoff"].kind == "handoff"
    assert spans["guardrail"].kind == "guardrail" and spans["guardrail"].failed
    assert (spans["mcp_tools"].kind, spans["mcp_tools"].server, spans["mcp_tools"].data["count"]) == (
        "mcp_tools",
        "demo",
        2,
    )
    assert (spans["odd"].kind, spans["odd"].name, spans["odd"].data) == ("custom", "odd", {"size": 3})
    assert Span.objects.get(trace_id=trace_id, name="something.new").data == {"whatever": [1, 2, 3]}


def test_it_keeps_a_trace_whose_run_is_not_there(store):
    trace_id = new_trace_id()
    with agents.trace(
        "switchboard-run", trace_id=trace_id, metadata={"run_id": "run_missing", "thread_id": "thread_x"}
    ):
        _model_call()
    store.force_flush()
    trace = Trace.objects.get(pk=trace_id)
    assert trace.run is None and trace.run_id_text == "run_missing" and trace.status == Trace.Status.ENDED
    assert trace.spans.count() == 1


def test_it_drops_what_it_cannot_store_and_never_raises_into_the_run(store, run, django_db_blocker, caplog):
    lost, kept = new_trace_id(), new_trace_id()
    with django_db_blocker.block():  # every database access fails, in every thread, until the block ends
        with run_trace(run, trace_id=lost):
            _model_call()
        store.force_flush()
    assert "could not be stored" in caplog.text or "dropped" in caplog.text
    with run_trace(run, trace_id=kept):
        _model_call()
    store.force_flush()
    assert not Trace.objects.filter(pk=lost).exists()
    assert Trace.objects.get(pk=kept).spans.count() == 2


def test_it_ends_a_trace_whose_start_was_stored_by_an_earlier_batch(store, run):
    """Most traces start and end in one batch and are stored by one insert; a longer one is ended in place."""
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id):
        _model_call(tokens=(4, 1))
        store.force_flush()
        assert Trace.objects.get(pk=trace_id).ended_at is None
        time.sleep(0.05)
        _model_call(tokens=(6, 2))
    store.force_flush()
    trace = Trace.objects.get(pk=trace_id)
    assert (trace.status, trace.tokens_in, trace.tokens_out, trace.model_calls) == ("completed", 10, 3, 2)
    assert trace.duration_ms >= 50 and trace.ended_at > trace.started_at


def test_it_adds_up_a_run_that_is_traced_again_after_an_approval(store, run):
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id, status="requires_action"):
        _model_call(tokens=(10, 0))
    store.force_flush()
    assert Trace.objects.get(pk=trace_id).status == "requires_action"
    with run_trace(run, trace_id=trace_id):
        _tool_call("draw_dot", server="demo")
        _model_call(tokens=(15, 4))
    store.force_flush()
    trace = Trace.objects.get(pk=trace_id)
    assert (trace.status, trace.tokens_in, trace.tokens_out, trace.model_calls, trace.tool_calls) == (
        "completed",
        25,
        4,
        2,
        1,
    )
    assert trace.spans.filter(name="run.end").count() == 2


def _processors(env: dict[str, str]) -> list[str]:
    code = (
        "import django; django.setup(); from agents.tracing import get_trace_provider; "
        "print(','.join(type(p).__name__ for p in get_trace_provider()._multi_processor._processors))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("AGENTS_TRACING", "OPENAI_AGENTS_DISABLE_TRACING")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split(",")


def test_it_replaces_the_vendor_exporter_unless_agents_tracing_is_on():
    assert _processors({}) == ["TraceStore"]
    assert _processors({"AGENTS_TRACING": "1"}) == ["BatchTraceProcessor", "TraceStore"]


def test_it_files_a_trace_under_what_its_run_learnt_after_the_trace_began(store, run):
    """The executor opens a run's trace before it has read the run; the rest of the metadata follows."""
    trace_id = new_trace_id()
    metadata = {"run_id": run.pk}
    with agents.trace("switchboard-run", trace_id=trace_id, metadata=metadata):
        metadata |= {"thread_id": run.conversation_id, "user_id": str(run.conversation.owner_id), "provider": "P"}
        _model_call()
    store.force_flush()
    trace = Trace.objects.get(pk=trace_id)
    assert (trace.run, trace.thread_id, trace.user_id, trace.provider) == (
        run,
        run.conversation_id,
        str(run.conversation.owner_id),
        "P",
    )
    assert Span.objects.get(trace_id=trace_id, kind="model").provider == "P"


def test_it_counts_a_tool_call_marked_failed_from_inside_it(store, run):
    from core.tracing import current_span_error_mark

    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id):
        with agents.function_span("add", input='{"a": "x"}') as span:
            span.span_data.mcp_data = {"server": "demo"}
            current_span_error_mark(message="MCP tool returned an error", data={"is_error": True})
        current_span_error_mark(message="no span is open here: nothing happens")
    store.force_flush()
    tool = Span.objects.get(trace_id=trace_id, kind="tool")
    assert tool.outcome == "error" and tool.error == {
        "message": "MCP tool returned an error",
        "data": {"is_error": True},
    }
    assert Trace.objects.get(pk=trace_id).tool_failures == 1
