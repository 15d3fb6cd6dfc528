"""Workflows for traces: installing the trace processor, and retention."""

from __future__ import annotations

from datetime import timedelta

import agents
from django.conf import settings
from django.utils import timezone

from observability.models import Trace
from observability.processor import TraceStore

_store: TraceStore | None = None


def trace_store_build(*, otel_endpoint: str = "") -> TraceStore:
    """A processor that stores traces locally, and also sends them to `otel_endpoint` when one is given."""
    otel = None
    if otel_endpoint:
        # Imported only when configured: with no endpoint, OpenTelemetry is never loaded and never connects.
        from observability.otel import OtelBridge

        otel = OtelBridge(endpoint=otel_endpoint)
    return TraceStore(otel=otel)


def trace_store_install() -> TraceStore:
    """Make this process's trace store receive every Agents SDK trace (once per process), unless TRACES is off.

    With AGENTS_TRACING off, ours is the only processor, so the SDK's exporter to the vendor is gone and
    tracing itself can be switched on: spans are made and kept here, and leave the server only through
    OpenTelemetry when it is configured. With AGENTS_TRACING on, the vendor's exporter stays beside ours.
    """
    global _store
    if _store is not None:
        return _store
    _store = trace_store_build(otel_endpoint=settings.OTEL_EXPORTER_OTLP_ENDPOINT)
    if not settings.TRACES:
        # Off: no span is made at all (what tracing costs, measured by the benchmark, is then nothing).
        if not settings.AGENTS_TRACING:
            agents.set_trace_processors([])
            agents.set_tracing_disabled(True)
        return _store
    if settings.AGENTS_TRACING:
        agents.add_trace_processor(_store)
    else:
        agents.set_trace_processors([_store])
        agents.set_tracing_disabled(False)
    return _store


def trace_store_get() -> TraceStore:
    return trace_store_install()


def traces_cleanup(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete traces (with their spans) that started more than `older_than_days` ago; return how many."""
    old = Trace.objects.filter(started_at__lt=timezone.now() - timedelta(days=older_than_days))
    if dry_run:
        return old.count()
    _, deleted = old.delete()
    return deleted.get(Trace._meta.label, 0)
