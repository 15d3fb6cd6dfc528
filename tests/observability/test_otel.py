"""OpenTelemetry: the same spans over OTLP/HTTP to a real receiver on loopback, or nowhere when unset."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import agents
import pytest
from agents.tracing import get_trace_provider
from django.conf import settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observability.services import trace_store_build, trace_store_get
from tests.observability.conftest import new_trace_id, run_trace

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: keeps every decoded ExportTraceServiceRequest it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.content_types: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[Any]:
        return [
            span
            for request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)
        self.server.paths.append(self.path)
        self.server.content_types.append(self.headers["Content-Type"])
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def exporting(receiver):
    """This process's traces go to a store that also exports to the receiver, for the test's duration."""
    store = trace_store_build(otel_endpoint=receiver.url)
    agents.set_trace_processors([store])
    yield store
    store.shutdown()
    agents.set_trace_processors([trace_store_get()])


def _attributes(span: Any) -> dict[str, Any]:
    def value(any_value: Any) -> Any:
        return getattr(any_value, any_value.WhichOneof("value"))

    return {attribute.key: value(attribute.value) for attribute in span.attributes}


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000_000)


def test_it_sends_spans_with_gen_ai_attributes_to_an_otlp_receiver(exporting, receiver, run):
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id, status="failed"):
        with agents.agent_span(name="Tracer") as agent:
            with agents.generation_span(model="offline") as model:
                model.span_data.usage = {"input_tokens": 11, "output_tokens": 4}
            with agents.function_span("add", input='{"a": 2, "b": "x"}') as tool:
                tool.span_data.mcp_data = {"server": "demo"}
                tool.set_error({"message": "Error running tool", "data": {"error": "not a number"}})
    exporting.force_flush()

    assert set(receiver.paths) == {"/v1/traces"}
    assert set(receiver.content_types) == {"application/x-protobuf"}
    resource = receiver.requests[0].resource_spans[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "switchboard"
    spans = {span.name: span for span in receiver.spans()}
    assert {"switchboard-run", "invoke_agent Tracer", "chat offline", "execute_tool add", "run.end"} <= set(spans)
    root, agent_out, chat, execute = (
        spans["switchboard-run"],
        spans["invoke_agent Tracer"],
        spans["chat offline"],
        spans["execute_tool add"],
    )
    # One trace, the SDK's own id; nested as the SDK nested them.
    assert {span.trace_id.hex() for span in receiver.spans()} == {trace_id.removeprefix("trace_")}
    assert root.parent_span_id == b""
    assert agent_out.parent_span_id == root.span_id
    assert chat.parent_span_id == agent_out.span_id and execute.parent_span_id == agent_out.span_id
    assert agent_out.span_id.hex() == agent.span_id.removeprefix("span_")[:16]
    # Real start and end times, the SDK's.
    assert (chat.start_time_unix_nano, chat.end_time_unix_nano) == (_ns(model.started_at), _ns(model.ended_at))
    assert root.start_time_unix_nano <= agent_out.start_time_unix_nano <= agent_out.end_time_unix_nano

    chat_attributes = _attributes(chat)
    assert chat_attributes["gen_ai.operation.name"] == "chat"
    assert chat_attributes["gen_ai.request.model"] == "offline"
    assert chat_attributes["gen_ai.provider.name"] == chat_attributes["gen_ai.system"] == "Offline"
    assert (chat_attributes["gen_ai.usage.input_tokens"], chat_attributes["gen_ai.usage.output_tokens"]) == (11, 4)
    assert chat_attributes["gen_ai.conversation.id"] == run.conversation_id
    tool_attributes = _attributes(execute)
    assert tool_attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool_attributes["gen_ai.tool.name"] == "add"
    assert tool_attributes["switchboard.mcp.server"] == "demo"
    assert tool_attributes["error.type"] == "tool_error"
    assert execute.status.code == execute.status.STATUS_CODE_ERROR
    assert _attributes(agent_out)["gen_ai.operation.name"] == "invoke_agent"
    root_attributes = _attributes(root)
    assert root_attributes["switchboard.run.id"] == run.pk and root_attributes["error.type"] == "x"
    # Sizes and names, never contents.
    assert b'"b": "x"' not in b"".join(r.SerializeToString() for r in receiver.requests)
    assert tool_attributes["switchboard.tool.argument_bytes"] == len('{"a": 2, "b": "x"}')


def test_it_connects_nowhere_when_no_endpoint_is_set(store, run):
    assert settings.OTEL_EXPORTER_OTLP_ENDPOINT == ""
    assert store.otel is None
    assert [type(p).__name__ for p in get_trace_provider()._multi_processor._processors] == ["TraceStore"]
    connects: list[Any] = []
    watching = threading.Event()

    def audit(event: str, args: tuple) -> None:
        if watching.is_set() and event in ("socket.connect", "socket.getaddrinfo"):
            connects.append((event, args[1] if event == "socket.connect" else args[:2]))

    sys.addaudithook(audit)  # hooks stay for the process's life: this one only listens while `watching`
    watching.set()
    try:
        with run_trace(run):
            with agents.generation_span(model="offline"):
                pass
        store.force_flush()
    finally:
        watching.clear()
    database = settings.DATABASES["default"]
    allowed = {database.get("HOST"), "localhost", "127.0.0.1"} if database.get("HOST") else set()
    assert [c for c in connects if not (c[1] and c[1][0] in allowed)] == []


def test_it_does_not_even_load_the_exporter_when_no_endpoint_is_set():
    # (mcp imports the OpenTelemetry API for its own no-op spans, redis-py the SDK's metrics for an option it
    # leaves off; the tracing SDK, the exporter and Switchboard's bridge stay out.)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys, django; django.setup(); import observability.services; "
        "print(sorted(m for m in sys.modules"
        " if m.startswith(('opentelemetry.sdk.trace', 'opentelemetry.exporter', 'observability.otel'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
