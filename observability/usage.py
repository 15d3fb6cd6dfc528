"""Usage and cost, summed for the pages: one user's month, or everyone's, by day, user, assistant, provider,
model and MCP server.

Read from `chat.Usage` (kept after a conversation is deleted) and, for MCP servers, from the audit log's tool
calls (kept too); never from the conversations themselves.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from chat.models import Usage
from chat.services.quotas import month_bounds, quota_limits
from core.models import AuditEntry

# Columns of every usage table, summed per row.
TOTALS = {
    "runs": Count("run_id", distinct=True),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "total_tokens": Coalesce(Sum("total_tokens"), 0),
    "cost": Coalesce(Sum("cost"), Decimal(0)),
}
# What staff can break everyone's usage down by: a label per row, from what the usage row kept.
GROUPINGS = {
    "user": ("User", F("user__username")),
    "assistant": ("Assistant", NullIf(F("assistant_name"), Value(""))),
    "provider": ("Provider", NullIf(F("provider_name"), Value(""))),
    "model": ("Model", NullIf(F("model"), Value(""))),
}
CHART_WIDTH = 1000
CHART_HEIGHT = 120


@dataclass(frozen=True)
class Period:
    """One calendar month of usage: [start, end)."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, month: str | None) -> Period:
        """The month named `YYYY-MM`, or this month for anything else."""
        moment = None
        if month:
            try:
                moment = timezone.make_aware(datetime.strptime(month, "%Y-%m"))
            except ValueError:
                moment = None
        return cls(*month_bounds(moment))

    @property
    def label(self) -> str:
        return f"{self.start:%B %Y}"

    @property
    def key(self) -> str:
        return f"{self.start:%Y-%m}"

    @property
    def previous(self) -> str:
        return f"{self.start - timedelta(days=1):%Y-%m}"

    @property
    def following(self) -> str | None:
        """The next month, unless it has not begun."""
        return None if self.end > timezone.now() else f"{self.end:%Y-%m}"

    def days(self) -> list[date]:
        first, last = timezone.localtime(self.start).date(), timezone.localtime(self.end).date()
        return [first + timedelta(days=n) for n in range((last - first).days)]


@dataclass
class Chart:
    """Bars for an inline SVG (attributes, not styles: the page's CSP allows no inline style)."""

    bars: list[dict[str, Any]] = field(default_factory=list)
    peak: int = 0
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def _chart(days: list[date], values: dict[date, int]) -> Chart:
    peak = max(values.values(), default=0)
    step = CHART_WIDTH / max(1, len(days))
    chart = Chart(peak=peak)
    for index, day in enumerate(days):
        value = values.get(day, 0)
        height = round(CHART_HEIGHT * value / peak, 1) if peak else 0
        chart.bars.append(
            {
                "day": day,
                "value": value,
                "x": round(index * step + 1, 1),
                "width": round(max(step - 2, 1), 1),
                "y": round(CHART_HEIGHT - height, 1),
                "height": height,
            }
        )
    return chart


def usage_rows(*, period: Period, user: AbstractBaseUser | None = None) -> QuerySet[Usage]:
    rows = Usage.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    return rows.filter(user=user) if user is not None else rows


def _by(rows: QuerySet[Usage], label: Any) -> list[dict[str, Any]]:
    return list(rows.values(label=label).annotate(**TOTALS).order_by("-total_tokens", "label"))


def _by_day(rows: QuerySet[Usage], period: Period) -> tuple[list[dict[str, Any]], Chart]:
    days = period.days()
    daily = {row["day"]: row for row in rows.values(day=TruncDate("created_at")).annotate(**TOTALS)}
    table = [{"label": day, **daily[day]} for day in days if day in daily]
    return table, _chart(days, {day: row["total_tokens"] for day, row in daily.items()})


def _totals(rows: QuerySet[Usage]) -> dict[str, Any]:
    return rows.aggregate(**TOTALS)


def servers_usage(*, period: Period, user: AbstractBaseUser | None = None) -> list[dict[str, Any]]:
    """MCP tool calls per server: calls, failures and their mean duration, from the audit log."""
    calls = AuditEntry.objects.filter(
        action=AuditEntry.Action.TOOL_CALL, created_at__gte=period.start, created_at__lt=period.end
    )
    if user is not None:
        calls = calls.filter(user=user)
    rows = (
        calls.annotate(server=KeyTextTransform("server", "details"))
        .values("server")
        .annotate(calls=Count("id"), failed=Count("id", filter=Q(details__outcome="failed")))
        .order_by("-calls", "server")
    )
    return [{"label": row["server"] or "—", "calls": row["calls"], "failed": row["failed"]} for row in rows]


def user_usage(*, user: AbstractBaseUser, period: Period) -> dict[str, Any]:
    """One user's month: totals, their budget, by day (with a chart) and by assistant."""
    rows = usage_rows(period=period, user=user)
    days, chart = _by_day(rows, period)
    limits = quota_limits(user)
    totals = _totals(rows)
    return {
        "period": period,
        "totals": totals,
        "limits": limits,
        "share": _share(totals, limits) if period.key == Period.of(None).key else None,
        "days": days,
        "chart": chart,
        "assistants": _by(rows, GROUPINGS["assistant"][1]),
        "servers": servers_usage(period=period, user=user),
    }


def _share(totals: dict[str, Any], limits: Any) -> int | None:
    """How much of this month's budget is used, in percent (the larger of tokens and cost)."""
    shares = []
    if limits.tokens:
        shares.append(totals["total_tokens"] / limits.tokens)
    if limits.cost:
        shares.append(float(totals["cost"] / limits.cost))
    return min(100, round(100 * max(shares))) if shares else None


def site_usage(*, period: Period) -> dict[str, Any]:
    """Everyone's month, for staff: totals, by day, and by each grouping and MCP server."""
    rows = usage_rows(period=period)
    days, chart = _by_day(rows, period)
    return {
        "period": period,
        "totals": _totals(rows),
        "days": days,
        "chart": chart,
        "tables": [(title, key, _by(rows, label)) for key, (title, label) in GROUPINGS.items()],
        "servers": servers_usage(period=period),
    }


CSV_COLUMNS = (
    "created_at", "user", "run_id", "thread_id", "assistant", "provider", "model", "status", "prompt_tokens",
    "completion_tokens", "total_tokens", "cost", "tool_calls", "duration_ms",
)  # fmt: skip


def usage_csv_rows(*, period: Period) -> Iterator[list[Any]]:
    """Every usage row of the month, oldest first, as CSV cells; the header first."""
    yield list(CSV_COLUMNS)
    rows = usage_rows(period=period).select_related("user").order_by("created_at", "id")
    for row in rows.iterator(chunk_size=1000):
        yield [
            row.created_at.isoformat(), row.user.get_username(), row.run_id, row.thread_id, row.assistant_name,
            row.provider_name, row.model, row.status, row.prompt_tokens, row.completion_tokens, row.total_tokens,
            row.cost, row.tool_calls, row.duration_ms,
        ]  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    """Rows as CSV text, one line at a time (for a streaming response); cells that a spreadsheet would run as a
    formula are quoted with a leading apostrophe."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
