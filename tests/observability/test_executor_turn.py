"""A real turn through the WebSocket and the run executor: its trace, stored and linked to its run, and the
metrics it moves, exactly one turn's worth."""

from __future__ import annotations

import asyncio
import sys

import pytest
from django.conf import settings
from django.test import AsyncClient

from assistants.models import Assistant, Provider
from chat.models import Conversation, Run
from mcp_servers.models import MCPServer
from observability.models import Span, Trace
from tests.observability.conftest import metric_value
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def conversation(alice, unique):
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
    return Conversation.objects.create(owner=alice, assistant=assistant)


async def _metrics(token: str) -> str:
    response = await AsyncClient().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.content.decode()


async def test_it_traces_a_turn_the_executor_ran(alice, conversation, store, metrics_token):
    assistant = await Assistant.objects.select_related("provider").aget(pk=conversation.assistant_id)
    server = await assistant.mcp_servers.aget()
    before = await _metrics(metrics_token)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/add {"a": 2, "b": 3}'})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    run = await Run.objects.aget(conversation=conversation)
    await asyncio.to_thread(store.force_flush)

    trace = await Trace.objects.aget(run=run)
    assert (trace.workflow, trace.thread_id, trace.user_id) == ("switchboard-run", conversation.pk, str(alice.pk))
    assert (trace.assistant_id, trace.provider, trace.status) == (assistant.pk, assistant.provider.name, "completed")
    assert (trace.tokens_in, trace.tokens_out) == (run.prompt_tokens, run.completion_tokens)
    assert (trace.model_calls, trace.tool_calls, trace.tool_failures) == (2, 1, 0)
    names = [span.name async for span in Span.objects.filter(trace=trace)]
    for name in ("run.claim", "run.end", "model.first_token", "add"):
        assert name in names
    # The run's writes are told on its end, not as a span each: the tool's result, the answer's start, and the
    # answer's end written with the run's.
    end = await Span.objects.aget(trace=trace, name="run.end")
    assert (end.data["status"], end.data["writes"]) == ("completed", 3)
    assert end.data["writes_ms"] > 0
    assert "rows.write" not in names
    tool = await Span.objects.aget(trace=trace, kind="tool")
    assert (tool.server, tool.tool, tool.outcome, tool.transport) == (server.name, "add", "ok", "stdio")
    calls = [span async for span in Span.objects.filter(trace=trace, kind="model").order_by("started_at")]
    assert [call.ttft_ms is not None for call in calls] == [False, True]

    after = await _metrics(metrics_token)
    provider, model = assistant.provider.name, assistant.model

    def moved(sample: str, **labels: str) -> float:
        return metric_value(after, sample, **labels) - metric_value(before, sample, **labels)

    assert moved("switchboard_runs_total", status="completed", assistant=assistant.pk, provider=provider) == 1
    assert moved("switchboard_run_duration_seconds_count", assistant=assistant.pk, provider=provider) == 1
    assert moved("switchboard_time_to_first_token_seconds_count", assistant=assistant.pk, provider=provider) == 1
    assert moved("switchboard_model_calls_total", provider=provider, model=model, outcome="ok") == 2
    assert (
        moved("switchboard_model_tokens_total", provider=provider, model=model, direction="input") == run.prompt_tokens
    )
    assert moved("switchboard_model_tokens_total", provider=provider, model=model, direction="output") == (
        run.completion_tokens
    )
    assert moved("switchboard_mcp_tool_calls_total", server=server.name, tool="add", outcome="ok") == 1
    assert moved("switchboard_mcp_tool_call_duration_seconds_count", server=server.name, tool="add", outcome="ok") == 1
