"""A real turn: the offline model and the demo MCP server over stdio, run by the Agents SDK inside a trace
opened the way the run executor opens it. The SDK's own spans (agent, model calls, the MCP tool call and tool
listings) and Switchboard's become rows and metrics."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time

import agents
import pytest
from agents import RunConfig, Runner
from django.conf import settings
from django.test import AsyncClient

from assistants.models import Assistant, Provider
from assistants.services import assistant_agent_build
from chat.models import Conversation, Run
from mcp_servers.models import MCPServer
from observability.models import Span, Trace
from tests.observability.conftest import metric_value

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(alice, unique):
    provider = Provider.objects.create(name=f"Offline {unique}", kind=Provider.Kind.OFFLINE, default_model="offline")
    server = MCPServer.objects.create(
        name=f"demo-{unique}",
        transport=MCPServer.Transport.STDIO,
        command=sys.executable,
        args=["-m", "mcp_servers.demo"],
        cwd=str(settings.BASE_DIR),
        call_timeout=10,
    )
    assistant = Assistant.objects.create(name="Tracer", owner=alice, provider=provider, model=f"offline-{unique}")
    assistant.mcp_servers.add(server)
    conversation = Conversation.objects.create(owner=alice, assistant=assistant)
    run = Run.objects.create(conversation=conversation, assistant=assistant, model=assistant.model)
    return {"provider": provider, "server": server, "assistant": assistant, "run": run, "user": alice}


async def _turn(world: dict, content: str, *, sensitive: bool = False) -> tuple[str, agents.Usage]:
    """One run, traced as the executor does it: metadata, Switchboard's spans, first token, run.end."""
    run, assistant, server = world["run"], world["assistant"], world["server"]
    trace_id = f"trace_{secrets.token_hex(16)}"
    metadata = {
        "run_id": run.pk,
        "thread_id": run.conversation_id,
        "user_id": str(world["user"].pk),
        "assistant_id": assistant.pk,
        "provider": world["provider"].name,
        "model": assistant.model,
    }
    with agents.trace("switchboard-run", trace_id=trace_id, group_id=run.conversation_id, metadata=metadata):
        build = await assistant_agent_build(
            assistant=assistant, user_id=world["user"].pk, username="alice", instructions="", servers=[server]
        )
        started = time.monotonic()
        result = Runner.run_streamed(
            build.agent,
            input=[{"role": "user", "content": content}],
            run_config=RunConfig(trace_include_sensitive_data=sensitive, workflow_name="switchboard-run"),
        )
        first = True
        async for event in result.stream_events():
            delta = event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
            if delta and first:
                first = False
                with agents.custom_span("model.first_token", {"ttft_ms": (time.monotonic() - started) * 1000}):
                    pass
        with agents.custom_span("run.end", {"status": "completed", "error_code": ""}):
            pass
    return trace_id, result.context_wrapper.usage


async def _metrics(token: str) -> str:
    response = await AsyncClient().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.content.decode()


async def test_it_traces_a_real_turn_with_an_mcp_tool_call(world, store, metrics_token):
    before = await _metrics(metrics_token)
    trace_id, usage = await _turn(world, '/add {"a": 2, "b": 3}')
    await asyncio.to_thread(store.force_flush)

    trace = await Trace.objects.aget(pk=trace_id)
    assert trace.run_id == world["run"].pk and trace.status == "completed"
    assert (trace.tokens_in, trace.tokens_out) == (usage.input_tokens, usage.output_tokens)
    assert (trace.model_calls, trace.tool_calls, trace.tool_failures) == (2, 1, 0)
    spans = [span async for span in Span.objects.filter(trace_id=trace_id).order_by("started_at")]
    kinds = [span.kind for span in spans]
    assert kinds.count("agent") == 1 and kinds.count("model") == 2 and kinds.count("mcp_tools") >= 1
    tool = next(span for span in spans if span.kind == "tool")
    server = world["server"].name
    assert (tool.name, tool.server, tool.transport, tool.outcome) == ("add", server, "stdio", "ok")
    agent = next(span for span in spans if span.kind == "agent")
    by_id = {span.span_id: span for span in spans}
    # The tool call sits under the agent (through the SDK's turn span).
    parent = by_id[tool.parent_id]
    assert agent.span_id in (parent.span_id, parent.parent_id)
    calls = [span for span in spans if span.kind == "model"]
    assert [call.model for call in calls] == [world["assistant"].model] * 2
    assert sum(call.tokens_in for call in calls) == usage.input_tokens
    assert sum(call.tokens_out for call in calls) == usage.output_tokens
    # The answer's call (the second) got the time to first token; the tool-calling one streamed no text.
    assert calls[0].ttft_ms is None and calls[1].ttft_ms is not None

    after = await _metrics(metrics_token)
    provider, model = world["provider"].name, world["assistant"].model
    assistant = world["assistant"].pk

    def moved(sample: str, **labels: str) -> float:
        return metric_value(after, sample, **labels) - metric_value(before, sample, **labels)

    assert moved("switchboard_model_calls_total", provider=provider, model=model, outcome="ok") == 2
    assert (
        moved("switchboard_model_tokens_total", provider=provider, model=model, direction="input") == usage.input_tokens
    )
    assert (
        moved("switchboard_model_tokens_total", provider=provider, model=model, direction="output")
        == usage.output_tokens
    )
    assert moved("switchboard_mcp_tool_calls_total", server=server, tool="add", outcome="ok") == 1
    assert moved("switchboard_mcp_tool_call_duration_seconds_count", server=server, tool="add", outcome="ok") == 1
    assert moved("switchboard_runs_total", status="completed", assistant=assistant, provider=provider) == 1
    assert moved("switchboard_run_duration_seconds_count", assistant=assistant, provider=provider) == 1
    assert moved("switchboard_time_to_first_token_seconds_count", assistant=assistant, provider=provider) == 1


async def test_it_marks_a_tool_call_that_failed(world, store):
    # The call times out in the pool; the SDK reports it to the model and marks the span.
    server = world["server"]
    server.call_timeout = 0.5
    await server.asave()
    trace_id, _ = await _turn(world, '/wait {"seconds": 5}')
    await asyncio.to_thread(store.force_flush)
    tool = await Span.objects.aget(trace_id=trace_id, kind="tool")
    assert tool.outcome == "error" and tool.failed and tool.server == server.name
    trace = await Trace.objects.aget(pk=trace_id)
    assert (trace.tool_calls, trace.tool_failures) == (1, 1)


async def test_it_keeps_only_sizes_when_the_sdk_hands_it_contents(world, store):
    """With sensitive data on, the SDK puts prompts, answers and tool arguments on its spans: only sizes stay."""
    trace_id, _ = await _turn(world, '/echo {"message": "a very private note"}', sensitive=True)
    await asyncio.to_thread(store.force_flush)
    tool = await Span.objects.aget(trace_id=trace_id, kind="tool")
    assert tool.argument_bytes == len('{"message": "a very private note"}') and tool.result_bytes > 0
    stored = [row async for row in Span.objects.filter(trace_id=trace_id).values()]
    assert "a very private note" not in repr(stored)


async def test_it_traces_borrowing_an_mcp_connection(world, store):
    first, _ = await _turn(world, "/tools")
    second, _ = await _turn(world, "/tools")
    await asyncio.to_thread(store.force_flush)
    connects = [await Span.objects.aget(trace_id=trace_id, name="mcp.connect") for trace_id in (first, second)]
    assert [(c.server, c.transport) for c in connects] == [(world["server"].name, "stdio")] * 2
    assert [c.data["reused"] for c in connects] == [False, True]


async def test_it_marks_an_mcp_server_that_would_not_connect(world, store):
    server = world["server"]
    server.command = "/nonexistent/mcp-server"
    await server.asave()
    # The run goes on without it (tests/chat/test_unavailable_servers.py); its trace says why.
    await _turn(world, "/tools")
    await asyncio.to_thread(store.force_flush)
    connect = await Span.objects.aget(trace__run=world["run"], name="mcp.connect")
    assert connect.failed and connect.error["message"] == "MCP server did not connect"
    assert connect.server == server.name


async def _traced(world: dict, run_input, *, agent=None):
    """Stream one run segment inside its own trace; return the trace id, the result and the agent."""
    run, assistant, server = world["run"], world["assistant"], world["server"]
    trace_id = f"trace_{secrets.token_hex(16)}"
    with agents.trace("switchboard-run", trace_id=trace_id, group_id=run.conversation_id, metadata={"run_id": run.pk}):
        if agent is None:
            build = await assistant_agent_build(
                assistant=assistant, user_id=world["user"].pk, username="alice", instructions="", servers=[server]
            )
            agent = build.agent
        result = Runner.run_streamed(agent, input=run_input, run_config=RunConfig(trace_include_sensitive_data=False))
        async for _ in result.stream_events():
            pass
    return trace_id, result, agent


async def test_it_counts_a_call_that_waited_for_approval_once_when_it_runs(world, store):
    server = world["server"]
    server.approval = MCPServer.Approval.ALWAYS
    await server.asave()
    paused, result, agent = await _traced(world, [{"role": "user", "content": "/draw_dot"}])
    assert result.interruptions
    state = result.to_state()
    state.approve(result.interruptions[0])
    resumed, _, _ = await _traced(world, state, agent=agent)
    await asyncio.to_thread(store.force_flush)

    # The SDK opens the call's span when it stops for approval, and again when the call runs.
    waiting = await Span.objects.aget(trace_id=paused, kind="tool")
    assert (waiting.name, waiting.outcome, waiting.server, waiting.failed) == (
        "draw_dot",
        "pending",
        server.name,
        False,
    )
    ran = await Span.objects.aget(trace_id=resumed, kind="tool")
    assert (ran.name, ran.outcome, ran.server) == ("draw_dot", "ok", server.name)
    counts = [await Trace.objects.values_list("tool_calls", "tool_failures").aget(pk=t) for t in (paused, resumed)]
    assert counts == [(0, 0), (1, 0)]
