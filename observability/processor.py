"""The trace processor: the Agents SDK's spans become Trace and Span rows, metrics, and (when configured)
OpenTelemetry spans.

The SDK calls the processor synchronously from the run's own task, so nothing here waits: each callback
turns the span into a plain row and appends it to an in-memory queue. One background thread takes the
queue in batches (every BATCH_SECONDS, or sooner once BATCH_ITEMS are waiting) and inserts them with
one executemany a table (`rows.rows_insert`) on its own database connection. A write that fails is logged
and dropped: losing a trace is better than failing a run.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from agents.tracing import Span as SdkSpan
from agents.tracing import Trace as SdkTrace
from agents.tracing import TracingProcessor
from django.utils import timezone

from core import metrics
from observability.rows import FLUSH_TIMEOUT, Item, database_call, rows_write
from observability.spans import ERROR_MAX, TraceState, non_negative, span_row

logger = logging.getLogger(__name__)

BATCH_SECONDS = 1.0  # fewer, larger writes: on SQLite each one holds the write lock a run's own writes wait for
BATCH_ITEMS = 200
QUEUE_MAX = 20_000  # past this many waiting items (the database is stuck), new ones are dropped
RECENT_TRACES = 10_000  # trace ids remembered, to tell a trace from one traced again under the same id


class TraceStore(TracingProcessor):
    """Stores every trace and span locally, counts metrics from them, and mirrors them to OpenTelemetry."""

    def __init__(self, *, otel: Any = None, write: Callable[[list[Item]], None] | None = None) -> None:
        self.otel = otel
        self._write = write or (lambda items: database_call(lambda: rows_write(items)))
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
        if non_negative(ttft) is None:
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
