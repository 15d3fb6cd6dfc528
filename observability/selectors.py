"""Reads for the trace page: a run's traces, laid out as a waterfall on one time axis."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404

from chat.models import Run
from observability.models import Span, Trace

AXIS = 1000  # the SVG bars' coordinate width
BAR_MIN = 3  # a zero-length span still shows
DEPTH_MAX = 8  # deeper spans are indented like this one (there is one CSS class per depth)
TICKS = 4


def duration_text(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms == 0:
        return "0 ms"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{int(ms // 60_000)} min {ms % 60_000 / 1000:.0f} s"


def run_traces_get(*, user: AbstractBaseUser, thread_id: str, run_id: str) -> tuple[Run, list[Trace]]:
    """The run and its traces, for the conversation's owner or a superuser; anyone else gets a 404."""
    runs = Run.objects.select_related("conversation", "assistant")
    if not user.is_superuser:
        runs = runs.filter(conversation__owner=user)
    run = runs.filter(pk=run_id, conversation_id=thread_id).first()
    if run is None:
        raise Http404("No such run.")
    return run, list(run.traces.order_by("started_at", "trace_id"))


@dataclass
class Bar:
    span: Span
    depth: int
    x: int
    width: int
    label: str
    duration: str
    details: list[str]

    @property
    def failed(self) -> bool:
        return self.span.failed

    @property
    def indent(self) -> int:
        return min(self.depth, DEPTH_MAX)


@dataclass
class Segment:
    trace: Trace
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Waterfall:
    segments: list[Segment]
    total_ms: float
    ticks: list[str]
    grid: list[int]
    duration_ms: int
    tokens_in: int
    tokens_out: int
    model_calls: int
    tool_calls: int
    tool_failures: int
    status: str

    @property
    def duration(self) -> str:
        return duration_text(self.duration_ms)


def _details(span: Span) -> list[str]:
    details = []
    if span.kind == Span.Kind.MODEL:
        if span.tokens_in is not None or span.tokens_out is not None:
            details.append(f"{span.tokens_in or 0} in · {span.tokens_out or 0} out tokens")
        if span.ttft_ms is not None:
            details.append(f"first token {duration_text(span.ttft_ms)}")
    elif span.kind == Span.Kind.TOOL:
        if span.server:
            details.append(f"on {span.server}" + (f" ({span.transport})" if span.transport else ""))
        if span.argument_bytes is not None:
            details.append(f"{span.argument_bytes} B in")
        if span.result_bytes is not None:
            details.append(f"{span.result_bytes} B out")
        if span.outcome in (Span.Outcome.DENIED, Span.Outcome.PENDING):
            details.append(span.get_outcome_display().lower())
    elif span.server:
        details.append(span.server + (f" ({span.transport})" if span.transport else ""))
    if span.error:
        details.append(str(span.error.get("message", "error")))
    return details


def _ordered(spans: list[Span]) -> list[tuple[Span, int]]:
    """Spans depth-first, each after its parent, siblings by start time."""
    ids = {span.span_id for span in spans}
    children: dict[str, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else ""
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: (s.started_at is None, s.started_at.timestamp() if s.started_at else 0, s.pk or 0))
    ordered: list[tuple[Span, int]] = []
    stack = [(span, 0) for span in reversed(children.get("", []))]
    seen: set[str] = set()
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:
            continue  # a cycle in bad data must not loop forever
        seen.add(span.span_id)
        ordered.append((span, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    return ordered


def waterfall_build(*, traces: list[Trace]) -> Waterfall:
    """Lay every span of these traces (one run: several when it paused for approval) on one time axis."""
    spans_by_trace = {trace.trace_id: list(trace.spans.all()) for trace in traces}
    moments: list[datetime] = []
    for trace in traces:
        moments += [m for m in (trace.started_at, trace.ended_at) if m]
        for span in spans_by_trace[trace.trace_id]:
            moments += [m for m in (span.started_at, span.ended_at) if m]
    origin = min(moments) if moments else None
    end = max(moments) if moments else None
    total_ms = max((end - origin) / timedelta(milliseconds=1), 1.0) if origin and end else 1.0

    def position(moment: datetime | None) -> float:
        return (moment - origin) / timedelta(milliseconds=1) / total_ms * AXIS if moment and origin else 0.0

    segments = []
    for trace in traces:
        segment = Segment(trace)
        for span, depth in _ordered(spans_by_trace[trace.trace_id]):
            x = min(int(position(span.started_at)), AXIS - BAR_MIN)
            right = position(span.ended_at) if span.ended_at else x
            width = max(round(right - x), BAR_MIN)
            segment.bars.append(
                Bar(
                    span=span,
                    depth=depth,
                    x=x,
                    width=min(width, AXIS - x),
                    label=span.name or span.get_kind_display(),
                    duration=duration_text(span.duration_ms),
                    details=_details(span),
                )
            )
        segments.append(segment)
    last = traces[-1] if traces else None
    return Waterfall(
        segments=segments,
        total_ms=total_ms,
        ticks=[duration_text(total_ms * step / TICKS) for step in range(TICKS + 1)],
        grid=[AXIS * step // TICKS for step in range(1, TICKS)],
        duration_ms=int(total_ms) if moments else 0,
        tokens_in=sum(trace.tokens_in for trace in traces),
        tokens_out=sum(trace.tokens_out for trace in traces),
        model_calls=sum(trace.model_calls for trace in traces),
        tool_calls=sum(trace.tool_calls for trace in traces),
        tool_failures=sum(trace.tool_failures for trace in traces),
        status=last.status if last else "",
    )
