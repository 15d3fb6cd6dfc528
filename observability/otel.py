"""The same spans, sent to an OpenTelemetry collector over OTLP/HTTP (protobuf), named by the GenAI
semantic conventions: `chat <model>`, `execute_tool <tool>`, `invoke_agent <agent>`.

Only built when OTEL_EXPORTER_OTLP_ENDPOINT is set; until then nothing here is imported, nothing is
sent and no connection is made. It uses a TracerProvider of its own (not the global one), so it never
changes what other OpenTelemetry users in the process see. OpenTelemetry trace and span ids are the
SDK's own ids (hex), so a trace found in the collector is the one of the same id in Switchboard.
Attributes carry sizes and names, never prompts, answers, tool arguments or results.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from agents.tracing import Span as SdkSpan
    from agents.tracing import Trace as SdkTrace

    from observability.spans import TraceState

FLUSH_TIMEOUT_MS = 10_000
SERVICE_NAME = "switchboard"
FAILED_STATUSES = ("failed", "expired")


def traces_endpoint(base: str) -> str:
    """The traces URL for an OTLP base URL, as OTEL_EXPORTER_OTLP_ENDPOINT means it (the signal path added)."""
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def _hex_id(value: str | None, digits: int) -> int | None:
    """The SDK's `trace_<32 hex>` / `span_<24 hex>` as an OpenTelemetry id of `digits` hex digits."""
    tail = (value or "").rsplit("_", 1)[-1]
    try:
        number = int(tail[:digits], 16) if len(tail) >= digits else None
    except ValueError:
        return None
    return number or None


def _ns(value: str | None) -> int:
    if value:
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1_000_000_000)
        except ValueError:
            pass
    return time.time_ns()


class _SdkIds(IdGenerator):
    """Hands out the ids the bridge asked for just before starting a span (per thread); random otherwise."""

    def __init__(self) -> None:
        self._next = threading.local()
        self._random = RandomIdGenerator()

    def want(self, *, trace_id: int | None, span_id: int | None) -> None:
        self._next.trace_id, self._next.span_id = trace_id, span_id

    def generate_trace_id(self) -> int:
        value, self._next.trace_id = getattr(self._next, "trace_id", None), None
        return value or self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        value, self._next.span_id = getattr(self._next, "span_id", None), None
        return value or self._random.generate_span_id()


def _kind(sdk_type: str) -> SpanKind:
    return SpanKind.CLIENT if sdk_type in ("response", "generation", "mcp_tools") else SpanKind.INTERNAL


def _scalar_attributes(prefix: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{prefix}.{key}": value
        for key, value in data.items()
        if isinstance(value, str | bool | int | float) and not (isinstance(value, str) and len(value) > 300)
    }


class OtelBridge:
    """Starts an OpenTelemetry span when the SDK starts one and ends it, with its attributes, at the SDK's end."""

    def __init__(self, *, endpoint: str, exporter: SpanExporter | None = None) -> None:
        self.ids = _SdkIds()
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
        self.provider = TracerProvider(resource=Resource.create(attributes), id_generator=self.ids)
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=traces_endpoint(endpoint)))
        )
        self.tracer = self.provider.get_tracer("switchboard.observability")
        self._lock = threading.Lock()
        self._roots: dict[str, otel_trace.Span] = {}
        self._open: dict[str, tuple[str, otel_trace.Span]] = {}  # SDK span id -> (trace id, span)

    def _start(self, name: str, *, trace_id: str, span_id: str | None, parent: otel_trace.Span | None, **options: Any):
        context = otel_trace.set_span_in_context(parent) if parent is not None else otel_context.Context()
        with self._lock:
            self.ids.want(trace_id=_hex_id(trace_id, 32), span_id=_hex_id(span_id, 16))
            return self.tracer.start_span(name, context=context, **options)

    @staticmethod
    def _root_attributes(trace: SdkTrace, metadata: dict[str, str]) -> dict[str, str]:
        attributes = {
            "gen_ai.conversation.id": metadata.get("thread_id") or str(getattr(trace, "group_id", "") or ""),
            "switchboard.run.id": metadata.get("run_id", ""),
            "switchboard.assistant.id": metadata.get("assistant_id", ""),
            "gen_ai.provider.name": metadata.get("provider", ""),
            "gen_ai.request.model": metadata.get("model", ""),
        }
        return {key: value for key, value in attributes.items() if value}

    def trace_start(self, trace: SdkTrace, metadata: dict[str, str]) -> None:
        root = self._start(
            str(trace.name or "trace"),
            trace_id=trace.trace_id,
            span_id=None,
            parent=None,
            kind=SpanKind.INTERNAL,
            start_time=time.time_ns(),
            attributes=self._root_attributes(trace, metadata),
        )
        with self._lock:
            self._roots[trace.trace_id] = root

    def span_start(self, span: SdkSpan[Any]) -> None:
        with self._lock:
            parent = self._open.get(span.parent_id or "", (None, None))[1] or self._roots.get(span.trace_id)
        sdk_type = str(getattr(span.span_data, "type", "") or "span")
        started = self._start(
            sdk_type,
            trace_id=span.trace_id,
            span_id=span.span_id,
            parent=parent,
            kind=_kind(sdk_type),
            start_time=_ns(span.started_at),
        )
        with self._lock:
            self._open[span.span_id] = (span.trace_id, started)

    def span_end(self, span: SdkSpan[Any], row: dict[str, Any], state: TraceState | None) -> None:
        with self._lock:
            _, started = self._open.pop(span.span_id, (None, None))
        if started is None:
            return
        name, attributes = self._describe(row, state)
        started.update_name(name)
        started.set_attributes({key: value for key, value in attributes.items() if value not in (None, "")})
        if row.get("outcome") == "error" or (row["error"] is not None and row.get("outcome") != "denied"):
            started.set_attribute("error.type", self._error_type(row))
            message = (row["error"] or {}).get("message", "") if row["error"] else ""
            started.set_status(Status(StatusCode.ERROR, message or None))
        started.end(end_time=_ns(span.ended_at))

    @staticmethod
    def _error_type(row: dict[str, Any]) -> str:
        return {"model": "model_error", "tool": "tool_error"}.get(row["kind"], "error")

    @staticmethod
    def _describe(row: dict[str, Any], state: TraceState | None) -> tuple[str, dict[str, Any]]:
        """The span's name and attributes in the GenAI semantic conventions' vocabulary."""
        attributes: dict[str, Any] = {
            "gen_ai.conversation.id": state.metadata.get("thread_id", "") if state else "",
            "switchboard.span.type": row["sdk_type"],
        }
        kind = row["kind"]
        if kind == "model":
            provider = row.get("provider") or (state.provider if state else "")
            attributes |= {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": row.get("model"),
                "gen_ai.response.model": row.get("model"),
                "gen_ai.provider.name": provider,
                "gen_ai.system": provider,
                "gen_ai.usage.input_tokens": row.get("tokens_in"),
                "gen_ai.usage.output_tokens": row.get("tokens_out"),
                "switchboard.ttft_ms": row.get("ttft_ms"),
            }
            return f"chat {row.get('model') or ''}".strip(), attributes
        if kind == "tool":
            attributes |= {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": row.get("tool"),
                "gen_ai.tool.type": "function",
                "mcp.method.name": "tools/call" if row.get("server") else None,
                "switchboard.mcp.server": row.get("server"),
                "switchboard.mcp.transport": row.get("transport"),
                "switchboard.tool.outcome": row.get("outcome"),
                "switchboard.tool.argument_bytes": row.get("argument_bytes"),
                "switchboard.tool.result_bytes": row.get("result_bytes"),
            }
            return f"execute_tool {row.get('tool') or ''}".strip(), attributes
        if kind == "agent":
            attributes |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": row["name"]}
            return f"invoke_agent {row['name']}".strip(), attributes
        if kind == "mcp_tools":
            attributes |= {"mcp.method.name": "tools/list", "switchboard.mcp.server": row.get("server")}
            return "tools/list", attributes
        attributes |= _scalar_attributes("switchboard", row.get("data") or {})
        return row["name"], attributes

    def trace_end(self, trace: SdkTrace, state: TraceState) -> None:
        with self._lock:
            root = self._roots.pop(trace.trace_id, None)
            leftovers = [span for span_id, (trace_id, span) in list(self._open.items()) if trace_id == trace.trace_id]
            for span_id in [span_id for span_id, (trace_id, _) in self._open.items() if trace_id == trace.trace_id]:
                del self._open[span_id]
        now = time.time_ns()
        for span in leftovers:  # the SDK never ended them: end them with their trace
            span.end(end_time=now)
        if root is None:
            return
        # What the run learnt about itself after the trace began (its user, its provider).
        root.set_attributes(self._root_attributes(trace, state.metadata))
        if state.status:
            root.set_attribute("switchboard.run.status", state.status)
        if state.status in FAILED_STATUSES:
            root.set_attribute("error.type", state.error_code or state.status)
            root.set_status(Status(StatusCode.ERROR, state.error_code or None))
        root.end(end_time=now)

    def force_flush(self) -> None:
        self.provider.force_flush(FLUSH_TIMEOUT_MS)

    def shutdown(self) -> None:
        self.provider.shutdown()
