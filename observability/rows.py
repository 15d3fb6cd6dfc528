"""Storing a batch of trace items: traces, spans and their late details, in one transaction where it can."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections, router, transaction
from django.db.models import F, Model
from django.db.models.constants import OnConflict

from core.database import database_single_threaded
from observability.spans import TRACE_METADATA_COLUMNS

logger = logging.getLogger(__name__)

FLUSH_TIMEOUT = 30.0


TRACE_TOTALS = ("tokens_in", "tokens_out", "model_calls", "tool_calls", "tool_failures")


@dataclass
class Item:
    # "trace" (started), "trace again" (started under an id this process traced before), "span", "ttft" (for a
    # span already stored), "end" (of a trace)
    kind: str
    fields: dict[str, Any]


@dataclass
class Writes:
    """What one batch writes, built before its transaction."""

    traces: list[dict[str, Any]]  # Trace rows' fields
    spans: list[dict[str, Any]]  # Span rows' fields
    ttfts: list[dict[str, Any]]
    ends: list[tuple[str, dict[str, Any]]]  # (trace id, the fields its end sets) of traces stored earlier


def _writes_of(items: list[Item]) -> Writes:
    """Read and build everything a batch writes, outside its transaction: on SQLite the write lock is held from
    BEGIN to COMMIT, and every chat write waits for it meanwhile."""
    from chat.models import Run
    from observability.models import Trace

    starts = [item.fields for item in items if item.kind in ("trace", "trace again")]
    spans = [item.fields for item in items if item.kind == "span"]
    # A trace that starts and ends within this batch (most runs) is stored whole, in one insert; one traced
    # again under the same id adds its totals to the stored row instead.
    started = {item.fields["trace_id"]: item.fields for item in items if item.kind == "trace"}
    # Spans of a trace whose start this process never saw still get a trace to hang from.
    first: dict[str, Any] = {}
    for fields in spans:
        if not fields.get("trace_seen"):
            first.setdefault(fields["trace_id"], fields["started_at"])
    ends = []
    for item in items:
        if item.kind == "end" and item.fields["trace_id"] in started:
            started[item.fields["trace_id"]].update(_trace_end_fields(item.fields, started[item.fields["trace_id"]]))
        elif item.kind == "end":
            ends.append((item.fields["trace_id"], _trace_end_update(Trace, item.fields, first)))
    run_ids = {fields["run_id"] for fields in starts if fields.get("run_id")}
    # A trace may name a run that is not (or no longer) there: keep the trace, without the link.
    known = set(Run.objects.filter(pk__in=run_ids).values_list("pk", flat=True)) if run_ids else set()
    traces = [{**fields, "run_id": fields["run_id"] if fields.get("run_id") in known else None} for fields in starts]
    traces += [{"trace_id": trace_id, "status": Trace.Status.ENDED, "started_at": at} for trace_id, at in first.items()]
    return Writes(
        traces=traces,
        spans=spans,
        ttfts=[item.fields for item in items if item.kind == "ttft"],
        ends=ends,
    )


def _writes_apply(writes: Writes) -> None:
    from observability.models import Span, Trace

    rows_insert(Trace, writes.traces)
    rows_insert(Span, writes.spans)
    for fields in writes.ttfts:
        Span.objects.filter(trace_id=fields["trace_id"], span_id=fields["span_id"], ttft_ms__isnull=True).update(
            ttft_ms=fields["ttft_ms"]
        )
    for trace_id, end in writes.ends:
        Trace.objects.filter(pk=trace_id).update(**end)


def rows_insert(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Insert rows given as {field name: value}, skipping any that conflict with a stored one: what
    `bulk_create(ignore_conflicts=True)` stores, in one `executemany`. A batch holds hundreds of spans, and
    building a model instance and compiling a statement per row cost several times what the insert does.
    A field a row leaves out takes its default; names that are not fields are ignored."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields = [field for field in model._meta.concrete_fields if field is not model._meta.auto_field]
    defaults = {field.attname: field.get_default() for field in fields}
    quote = connection.ops.quote_name
    on_conflict = OnConflict.IGNORE
    sql = "{insert} {table} ({columns}) VALUES ({values}) {suffix}".format(
        insert=connection.ops.insert_statement(on_conflict=on_conflict),
        table=quote(model._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
        values=", ".join(["%s"] * len(fields)),
        suffix=connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None),
    )
    values = [
        [field.get_db_prep_save(row.get(field.attname, defaults[field.attname]), connection) for field in fields]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


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


def _trace_end_update(trace_model: Any, fields: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """What the end of a trace stored by an earlier batch (or hung from its first span in this one) sets on it."""
    started = fields["started_at"] or first.get(fields["trace_id"])
    if started is None:  # traced again (or its start was never seen here): the stored row says when it began
        started = trace_model.objects.filter(pk=fields["trace_id"]).values_list("started_at", flat=True).first()
    end = _trace_end_fields(fields, {"started_at": started})
    # A run resumed after an approval may trace under the same id again: its totals add up.
    end.update({name: F(name) + fields[name] for name in TRACE_TOTALS})
    return end


def rows_write(items: list[Item]) -> None:
    """Store one batch: in one transaction, or item by item when that fails, dropping what still fails."""
    close_old_connections()
    try:
        try:
            writes = _writes_of(items)
            with transaction.atomic():
                _writes_apply(writes)
            return
        except Exception:  # retried one by one below
            logger.debug("A trace batch failed; storing its items one by one", exc_info=True)
        dropped = 0
        for item in items:
            try:
                writes = _writes_of([item])
                with transaction.atomic():
                    _writes_apply(writes)
            except Exception:  # noqa: BLE001 - a trace is never worth failing for
                dropped += 1
        if dropped:
            logger.warning("Dropped %d of %d trace item(s) that could not be stored", dropped, len(items))
    finally:
        close_old_connections()


def database_call(function: Callable[[], None]) -> None:
    if database_single_threaded():
        SyncToAsync.single_thread_executor.submit(function).result(timeout=FLUSH_TIMEOUT)
    else:
        function()
