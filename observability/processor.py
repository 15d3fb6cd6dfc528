"""The trace processor: the Agents SDK's spans become Trace and Span rows, metrics, and (when configured)
OpenTelemetry spans.

The SDK calls the processor synchronously from the run's own task, so nothing here waits: each callback
turns the span into a plain row and appends it to an in-memory queue. One background thread takes the
queue in batches (every BATCH_SECONDS, or sooner once BATCH_ITEMS are waiting) and inserts them with
bulk_create on its own database connection. A write that fails is logged and dropped: losing a trace is
better than failing a run.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.tracing import Span as SdkSpan
from agents.tracing import Trace as SdkTrace
from agents.tracing import TracingProcessor
from asgiref.sync import SyncToAsync
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from core import metrics
from core.database import database_single_threaded

logger = logging.getLogger(__name__)

BATCH_SECONDS = 0.2
BATCH_ITEMS = 200
QUEUE_MAX = 20_000  # past this many waiting items (the database is stuck), new ones are dropped
FLUSH_TIMEOUT = 30.0
DATA_MAX_BYTES = 4096
TEXT_MAX = 300
ERROR_MAX = 1000
LIST_MAX = 50
METADATA_KEYS = ("run_id", "thread_id", "user_id", "assistant_id", "provider", "model")
# Never stored: what the model read or wrote, what a tool was given or returned.
CONTENT_KEYS = frozenset(
    {"input", "output", "arguments", "result", "content", "instructions", "messages", "response", "text", "prompt"}
)
SECRET_WORDS = ("key", "token", "secret", "password", "authorization", "cookie", "credential", "header", "env")
REJECTED = "manually rejected"  # how the SDK words a tool call the user denied

# Trace columns filled from the trace's metadata: (column, metadata key, size).
TRACE_METADATA_COLUMNS = (
    ("thread_id", "thread_id", 64),
    ("user_id", "user_id", 64),
    ("assistant_id", "assistant_id", 64),
    ("provider", "provider", 200),
    ("model", "model", 200),
)

KIND_OF_TYPE = {
    "agent": "agent",
    "response": "model",
    "generation": "model",
    "function": "tool",
    "mcp_tools": "mcp_tools",
    "handoff": "handoff",
    "guardrail": "guardrail",
}


# --- Turning SDK spans into rows ----------------------------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _clean(value: Any, depth: int = 0) -> Any:
    """A bounded, JSON-safe copy without contents or anything that looks like a secret."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= TEXT_MAX else value[:TEXT_MAX] + "…"
    if depth >= 3:
        return None
    if isinstance(value, dict):
        return {
            str(key): _clean(item, depth + 1)
            for key, item in list(value.items())[:LIST_MAX]
            if str(key) not in CONTENT_KEYS and not _secret_key(str(key))
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, depth + 1) for item in list(value)[:LIST_MAX]]
    return _clean(str(value), depth)


def _bounded(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the largest entries until the object fits DATA_MAX_BYTES."""
    data = _clean(data) or {}
    while data and len(json.dumps(data, default=str)) > DATA_MAX_BYTES:
        largest = max(data, key=lambda key: len(json.dumps(data[key], default=str)))
        del data[largest]
        data["truncated"] = True
    return data


def _size(value: Any) -> int | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return len(text.encode())


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _usage(source: Any) -> tuple[int | None, int | None]:
    if source is None:
        return None, None
    if isinstance(source, dict):
        return _number(source.get("input_tokens")), _number(source.get("output_tokens"))
    return _number(getattr(source, "input_tokens", None)), _number(getattr(source, "output_tokens", None))


def _error(span: SdkSpan[Any]) -> dict[str, Any] | None:
    """The span's error: its message and a cleaned copy of its details, the error text kept but bounded."""
    error = span.error
    if not error:
        return None
    if not isinstance(error, dict):
        return {"message": str(error)[:ERROR_MAX]}
    cleaned: dict[str, Any] = {"message": str(error.get("message") or "error")[:ERROR_MAX]}
    data = error.get("data")
    if isinstance(data, dict):
        details = _clean({key: value for key, value in data.items() if key != "error"})
        if isinstance(data.get("error"), str):
            details["error"] = data["error"][:ERROR_MAX]
        cleaned["data"] = details
    return cleaned


@dataclass
class TraceState:
    """What the processor keeps about one open trace."""

    trace_id: str
    # The trace's own metadata object: a run's trace learns more about its run (user, provider) once claimed.
    raw_metadata: Any = None
    started: float = field(default_factory=time.time)
    open_models: list[str] = field(default_factory=list)
    last_model: str | None = None
    ttft_given: set[str] = field(default_factory=set)
    tool_servers: dict[str, str] = field(default_factory=dict)
    transports: dict[str, str] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    tool_failures: int = 0
    status: str = ""
    error_code: str = ""
    error: str = ""
    started_at: datetime | None = None  # as stored on the trace's row
    again: bool = False  # traced before under the same id: its row keeps the first start, and adds up totals

    @property
    def metadata(self) -> dict[str, str]:
        return _metadata(self.raw_metadata)

    @property
    def assistant(self) -> str:
        return self.metadata.get("assistant_id", "")

    @property
    def provider(self) -> str:
        return self.metadata.get("provider", "")


def _metadata(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {key: str(raw[key])[:TEXT_MAX] for key in METADATA_KEYS if raw.get(key) not in (None, "")}


def span_row(span: SdkSpan[Any], state: TraceState | None) -> dict[str, Any]:
    """The Span row's fields for an ended SDK span; `state` resolves what the span itself does not say."""
    data = span.span_data
    sdk_type = str(getattr(data, "type", "") or "unknown")
    started, ended = _when(span.started_at), _when(span.ended_at)
    row: dict[str, Any] = {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id or "",
        "kind": KIND_OF_TYPE.get(sdk_type, "custom"),
        "sdk_type": sdk_type[:40],
        "name": str(getattr(data, "name", "") or sdk_type)[:200],
        "started_at": started,
        "ended_at": ended,
        "duration_ms": round((ended - started).total_seconds() * 1000, 3) if started and ended else None,
        "error": _error(span),
        "data": {},
    }
    extract = EXTRACTORS.get(sdk_type, _extract_other)
    extract(row, data, state)
    if row["error"] is not None and not row.get("outcome"):
        row["outcome"] = "error"
    row["data"] = _bounded(row["data"])
    return row


def _extract_agent(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["data"] = {"tools": data.tools, "handoffs": data.handoffs, "output_type": data.output_type}


def _extract_generation(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["model"] = str(data.model or (state.metadata.get("model", "") if state else ""))[:200]
    row["tokens_in"], row["tokens_out"] = _usage(data.usage)
    row["name"] = f"model {row['model']}".strip()
    row["data"] = {"model_config": data.model_config}


def _extract_response(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    response = data.response
    model = getattr(response, "model", None) or (state.metadata.get("model", "") if state else "")
    row["model"] = str(model)[:200]
    tokens_in, tokens_out = _usage(data.usage)
    if tokens_in is None and tokens_out is None:
        tokens_in, tokens_out = _usage(getattr(response, "usage", None))
    row["tokens_in"], row["tokens_out"] = tokens_in, tokens_out
    row["name"] = f"model {row['model']}".strip()
    row["data"] = {"response_id": getattr(response, "id", None) or getattr(data, "_response_id", None)}


def _extract_function(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    tool = str(data.name or "")
    mcp = data.mcp_data if isinstance(data.mcp_data, dict) else None
    server = str((mcp or {}).get("server") or (state.tool_servers.get(tool, "") if state else ""))
    row.update(
        tool=tool[:200],
        server=server[:200],
        transport=(state.transports.get(server, "") if state else "")[:40],
        argument_bytes=_size(data.input),
        result_bytes=_size(data.output),
    )
    error = row["error"]
    if error is not None:
        denied = REJECTED in str((error.get("data") or {}).get("error", ""))
        row["outcome"] = "denied" if denied else "error"
    elif mcp is None and state is not None and tool in state.tool_servers:
        # An MCP tool that ran always names its server on the span: this one stopped to wait for approval.
        row["outcome"] = "pending"
    else:
        row["outcome"] = "ok"
    row["data"] = {"mcp": mcp is not None}


def _extract_mcp_tools(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["server"] = str(data.server or "")[:200]
    row["name"] = f"list tools {row['server']}".strip()
    tools = list(data.result or [])
    row["data"] = {"tools": tools, "count": len(tools)}


def _extract_handoff(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["name"] = f"handoff {data.from_agent or '?'} → {data.to_agent or '?'}"
    row["data"] = {"from_agent": data.from_agent, "to_agent": data.to_agent}


def _extract_guardrail(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["data"] = {"triggered": bool(data.triggered)}
    if data.triggered:
        row["outcome"] = "error"


def _extract_custom(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    payload = data.data if isinstance(data.data, dict) else {}
    row["data"] = dict(payload)
    name = row["name"]
    if name == "mcp.connect":
        row["server"] = str(payload.get("server") or "")[:200]
        row["transport"] = str(payload.get("transport") or "")[:40]
    elif name == "model.first_token":
        ttft = payload.get("ttft_ms")
        row["ttft_ms"] = float(ttft) if _number(ttft) is not None else None
    elif name == "run.end" and payload.get("status") in ("failed", "expired"):
        row["outcome"] = "error"


def _extract_sdk_custom(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    """The SDK's task and turn spans: a run of the runner, and one turn of the agent loop."""
    exported = data.export().get("data") or {}
    row["name"] = f"turn {exported.get('turn', '')}".strip() if row["sdk_type"] == "turn" else "task"
    row["data"] = {key: value for key, value in exported.items() if key != "sdk_span_type"}


def _extract_other(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    try:
        exported = data.export()
    except Exception:  # noqa: BLE001 - a span type we do not know may export anything, or fail to
        exported = {}
    row["data"] = {key: value for key, value in (exported or {}).items() if key != "type"}


EXTRACTORS: dict[str, Callable[[dict[str, Any], Any, TraceState | None], None]] = {
    "agent": _extract_agent,
    "generation": _extract_generation,
    "response": _extract_response,
    "function": _extract_function,
    "mcp_tools": _extract_mcp_tools,
    "handoff": _extract_handoff,
    "guardrail": _extract_guardrail,
    "custom": _extract_custom,
    "task": _extract_sdk_custom,
    "turn": _extract_sdk_custom,
}


# --- Writing rows ---------------------------------------------------------------------------------------------------


RECENT_TRACES = 10_000  # trace ids remembered, to tell a trace from one traced again under the same id
TRACE_TOTALS = ("tokens_in", "tokens_out", "model_calls", "tool_calls", "tool_failures")


@dataclass
class Item:
    # "trace" (started), "trace again" (started under an id this process traced before), "span", "ttft" (for a
    # span already stored), "end" (of a trace)
    kind: str
    fields: dict[str, Any]


def _apply(items: list[Item]) -> None:
    from chat.models import Run
    from observability.models import Span, Trace

    starts = [item.fields for item in items if item.kind in ("trace", "trace again")]
    spans = [item.fields for item in items if item.kind == "span"]
    # A trace that starts and ends within this batch (most runs) is stored whole, in one insert; one traced
    # again under the same id adds its totals to the stored row instead.
    started = {item.fields["trace_id"]: item.fields for item in items if item.kind == "trace"}
    ends = []
    for item in items:
        if item.kind == "end" and item.fields["trace_id"] in started:
            started[item.fields["trace_id"]].update(_trace_end_fields(item.fields, started[item.fields["trace_id"]]))
        elif item.kind == "end":
            ends.append(item.fields)
    run_ids = {fields["run_id"] for fields in starts if fields.get("run_id")}
    # A trace may name a run that is not (or no longer) there: keep the trace, without the link.
    known = set(Run.objects.filter(pk__in=run_ids).values_list("pk", flat=True)) if run_ids else set()
    if starts:
        Trace.objects.bulk_create(
            [
                Trace(**{**fields, "run_id": fields["run_id"] if fields.get("run_id") in known else None})
                for fields in starts
            ],
            ignore_conflicts=True,
        )
    if spans:
        # Spans of a trace whose start this process never saw still get a trace to hang from.
        first: dict[str, Any] = {}
        for fields in spans:
            if not fields.pop("trace_seen", False):
                first.setdefault(fields["trace_id"], fields["started_at"])
        if first:
            Trace.objects.bulk_create(
                [Trace(trace_id=trace_id, status=Trace.Status.ENDED, started_at=at) for trace_id, at in first.items()],
                ignore_conflicts=True,
            )
        Span.objects.bulk_create([Span(**fields) for fields in spans], ignore_conflicts=True)
    for item in items:
        if item.kind == "ttft":
            Span.objects.filter(
                trace_id=item.fields["trace_id"], span_id=item.fields["span_id"], ttft_ms__isnull=True
            ).update(ttft_ms=item.fields["ttft_ms"])
    for fields in ends:
        _trace_end_apply(Trace, fields)


def _trace_end_fields(fields: dict[str, Any], start: dict[str, Any]) -> dict[str, Any]:
    """What a trace's end sets on a trace that started at `start` (its stored fields)."""
    metadata = fields["metadata"]
    ended, began = fields["ended_at"], start.get("started_at")
    return {
        **{name: metadata[key][:size] for name, key, size in TRACE_METADATA_COLUMNS if metadata.get(key)},
        "metadata": metadata,
        "ended_at": ended,
        "duration_ms": max(0, int((ended - began).total_seconds() * 1000)) if began else fields["duration_ms"],
        "status": fields["status"],
        "error_code": fields["error_code"],
        "error": fields["error"],
        **{name: fields[name] for name in TRACE_TOTALS},
    }


def _trace_end_apply(trace_model: Any, fields: dict[str, Any]) -> None:
    """End a trace stored by an earlier batch."""
    started = fields["started_at"]
    if started is None:  # traced again (or its start was never seen here): the stored row says when it began
        started = trace_model.objects.filter(pk=fields["trace_id"]).values_list("started_at", flat=True).first()
    end = _trace_end_fields(fields, {"started_at": started})
    # A run resumed after an approval may trace under the same id again: its totals add up.
    end.update({name: F(name) + fields[name] for name in TRACE_TOTALS})
    trace_model.objects.filter(pk=fields["trace_id"]).update(**end)


def rows_write(items: list[Item]) -> None:
    """Store one batch: in one transaction, or item by item when that fails, dropping what still fails."""
    close_old_connections()
    try:
        try:
            with transaction.atomic():
                _apply(items)
            return
        except Exception:  # retried one by one below
            logger.debug("A trace batch failed; storing its items one by one", exc_info=True)
        dropped = 0
        for item in items:
            try:
                with transaction.atomic():
                    _apply([item])
            except Exception:  # noqa: BLE001 - a trace is never worth failing for
                dropped += 1
        if dropped:
            logger.warning("Dropped %d of %d trace item(s) that could not be stored", dropped, len(items))
    finally:
        close_old_connections()


def _database_call(function: Callable[[], None]) -> None:
    if database_single_threaded():
        SyncToAsync.single_thread_executor.submit(function).result(timeout=FLUSH_TIMEOUT)
    else:
        function()


# --- The processor ----------------------------------------------------------------------------------------------


class TraceStore(TracingProcessor):
    """Stores every trace and span locally, counts metrics from them, and mirrors them to OpenTelemetry."""

    def __init__(self, *, otel: Any = None, write: Callable[[list[Item]], None] | None = None) -> None:
        self.otel = otel
        self._write = write or (lambda items: _database_call(lambda: rows_write(items)))
        self._lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._traces: dict[str, TraceState] = {}
        self._ttft: dict[str, float] = {}  # open model-call span id -> its time to first token
        self._queued_models: dict[str, dict[str, Any]] = {}  # ended model-call span id -> its row, not yet stored
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()  # trace ids started lately
        self._queue: collections.deque[Item | threading.Event] = collections.deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.dropped = 0

    # The SDK's callbacks: quick, and never raising into the run.

    def on_trace_start(self, trace: SdkTrace) -> None:
        try:
            state = TraceState(trace_id=trace.trace_id, raw_metadata=getattr(trace, "metadata", None))
            metadata = state.metadata
            state.started_at = timezone.now()
            with self._lock:
                self._traces[trace.trace_id] = state
                again = state.again = trace.trace_id in self._recent
                self._recent[trace.trace_id] = None
                if len(self._recent) > RECENT_TRACES:
                    self._recent.popitem(last=False)
            self._put(
                Item(
                    "trace again" if again else "trace",
                    {
                        "trace_id": trace.trace_id,
                        "run_id": metadata.get("run_id", ""),
                        "workflow": str(trace.name or "")[:200],
                        "thread_id": metadata.get("thread_id", "") or str(getattr(trace, "group_id", "") or "")[:64],
                        "user_id": metadata.get("user_id", "")[:64],
                        "assistant_id": metadata.get("assistant_id", "")[:64],
                        "provider": metadata.get("provider", "")[:200],
                        "model": metadata.get("model", "")[:200],
                        "started_at": state.started_at,
                        "metadata": metadata,
                    },
                )
            )
            if self.otel is not None:
                self.otel.trace_start(trace, metadata)
        except Exception:  # tracing must never break a run
            logger.warning("Trace processor failed on a trace start", exc_info=True)

    def on_span_start(self, span: SdkSpan[Any]) -> None:
        try:
            data = span.span_data
            kind = getattr(data, "type", "")
            with self._lock:
                state = self._traces.get(span.trace_id)
                if state is not None:
                    if kind in ("response", "generation"):
                        state.open_models.append(span.span_id)
                    elif kind == "custom" and getattr(data, "name", "") == "model.first_token":
                        self._first_token(state, data)
            if self.otel is not None:
                self.otel.span_start(span)
        except Exception:
            logger.warning("Trace processor failed on a span start", exc_info=True)

    def _first_token(self, state: TraceState, data: Any) -> None:
        """Give the model call this first token belongs to its time to first token (under the lock)."""
        payload = data.data if isinstance(data.data, dict) else {}
        ttft = payload.get("ttft_ms")
        if _number(ttft) is None:
            return
        ttft = float(ttft)
        metrics.first_token_record(assistant=state.assistant, provider=state.provider, seconds=ttft / 1000)
        if state.open_models:
            target = state.open_models[-1]
            if target not in state.ttft_given:
                state.ttft_given.add(target)
                self._ttft[target] = ttft
        elif state.last_model is not None and state.last_model not in state.ttft_given:
            # A fast model (the offline one) may finish its call before its first token is read: the call
            # that ended last is the one that produced it; its row is given the time while it waits in the queue.
            state.ttft_given.add(state.last_model)
            if (row := self._queued_models.get(state.last_model)) is not None:
                row["ttft_ms"] = ttft
            else:
                self._put(Item("ttft", {"trace_id": state.trace_id, "span_id": state.last_model, "ttft_ms": ttft}))

    def on_span_end(self, span: SdkSpan[Any]) -> None:
        try:
            with self._lock:
                state = self._traces.get(span.trace_id)
                row = span_row(span, state)
                if state is not None:
                    self._account(state, span, row)
                    row["trace_seen"] = True  # its trace's start is queued before it
                    if row["kind"] == "model":
                        self._queued_models[span.span_id] = row
            self._put(Item("span", row))
            if self.otel is not None:
                self.otel.span_end(span, row, state)
        except Exception:
            logger.warning("Trace processor failed on a span end", exc_info=True)

    def _account(self, state: TraceState, span: SdkSpan[Any], row: dict[str, Any]) -> None:
        """Totals and metrics of one ended span (under the lock)."""
        kind = row["kind"]
        if kind == "model":
            if span.span_id in state.open_models:
                state.open_models.remove(span.span_id)
            state.last_model = span.span_id
            row["ttft_ms"] = self._ttft.pop(span.span_id, None)
            row["provider"] = state.provider[:200]
            state.model_calls += 1
            state.tokens_in += row.get("tokens_in") or 0
            state.tokens_out += row.get("tokens_out") or 0
            metrics.model_call_record(
                provider=state.provider,
                model=row["model"],
                outcome="error" if row["error"] is not None else "ok",
                tokens_in=row.get("tokens_in") or 0,
                tokens_out=row.get("tokens_out") or 0,
            )
        elif kind == "tool" and row["outcome"] != "pending":
            state.tool_calls += 1
            state.tool_failures += row["outcome"] == "error"
            seconds = row["duration_ms"] / 1000 if row["duration_ms"] is not None else None
            metrics.tool_call_record(server=row["server"], tool=row["tool"], outcome=row["outcome"], seconds=seconds)
        elif kind == "mcp_tools":
            for tool in row["data"].get("tools") or []:
                state.tool_servers.setdefault(str(tool), row["server"])
        elif row["name"] == "mcp.connect" and row.get("server"):
            state.transports[row["server"]] = row.get("transport", "")
        elif row["name"] == "run.end":
            payload = row["data"]
            state.status = str(payload.get("status") or "")[:20]
            state.error_code = str(payload.get("error_code") or "")[:100]
        if row["error"] is not None and not state.error:
            state.error = f"{row['name']}: {row['error']['message']}"[:ERROR_MAX]

    def on_trace_end(self, trace: SdkTrace) -> None:
        try:
            with self._lock:
                state = self._traces.pop(trace.trace_id, None)
            if state is None:
                return
            ended = time.time()
            seconds = max(0.0, ended - state.started)
            from observability.models import Trace

            status = state.status if state.status in Trace.Status.values else Trace.Status.ENDED
            self._put(
                Item(
                    "end",
                    {
                        "trace_id": state.trace_id,
                        "metadata": state.metadata,
                        "started_at": None if state.again else state.started_at,
                        "ended_at": timezone.now(),
                        "duration_ms": int(seconds * 1000),
                        "status": status,
                        "error_code": state.error_code,
                        "error": state.error,
                        "tokens_in": state.tokens_in,
                        "tokens_out": state.tokens_out,
                        "model_calls": state.model_calls,
                        "tool_calls": state.tool_calls,
                        "tool_failures": state.tool_failures,
                    },
                )
            )
            if state.status:
                metrics.run_end_record(
                    status=state.status, assistant=state.assistant, provider=state.provider, seconds=seconds
                )
            if self.otel is not None:
                self.otel.trace_end(trace, state)
        except Exception:
            logger.warning("Trace processor failed on a trace end", exc_info=True)

    # The queue and its writer thread.

    def _put(self, item: Item | threading.Event) -> None:
        if len(self._queue) >= QUEUE_MAX and not isinstance(item, threading.Event):
            self.dropped += 1
            if isinstance(item, Item) and item.kind == "span":
                self._queued_models.pop(item.fields["span_id"], None)
            if self.dropped % 1000 == 1:
                logger.warning("Trace queue full: dropped %d item(s) so far", self.dropped)
            return
        self._queue.append(item)
        self._thread_ensure()
        if len(self._queue) >= BATCH_ITEMS or isinstance(item, threading.Event):
            self._wake.set()

    def _thread_ensure(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(BATCH_SECONDS)
            self._wake.clear()
            self._drain()
            if self._stopping and not self._queue:
                return

    def _drain(self) -> None:
        batch: list[Item] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, threading.Event):
                self._flush(batch)
                batch = []
                item.set()
                continue
            batch.append(item)
            if len(batch) >= BATCH_ITEMS:
                self._flush(batch)
                batch = []
        self._flush(batch)

    def _flush(self, batch: list[Item]) -> None:
        if not batch:
            return
        with self._lock:  # from here on, a late first token updates the stored row instead
            for item in batch:
                if item.kind == "span":
                    self._queued_models.pop(item.fields["span_id"], None)
        try:
            self._write(batch)
        except Exception:  # storage failures are logged and dropped, never raised
            logger.warning("Could not store %d trace item(s); they are dropped", len(batch), exc_info=True)

    def force_flush(self) -> None:
        """Store everything queued so far, and send it on to OpenTelemetry; return when done.

        It waits for the writer thread, which on an in-memory SQLite database writes through the async ORM's
        thread: never call it from that thread (in async code, `await asyncio.to_thread(store.force_flush)`).
        """
        # Also when the queue looks empty: the writer may be storing the last batch right now.
        if self._queue or (self._thread is not None and self._thread.is_alive()):
            done = threading.Event()
            self._put(done)
            if not done.wait(FLUSH_TIMEOUT):
                logger.warning("Trace writer did not finish within %g s", FLUSH_TIMEOUT)
        if self.otel is not None:
            self.otel.force_flush()

    def shutdown(self) -> None:
        self.force_flush()
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=FLUSH_TIMEOUT)
        if self.otel is not None:
            self.otel.shutdown()
