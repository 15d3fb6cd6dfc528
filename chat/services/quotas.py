"""Quotas: what a user may use (a monthly budget of tokens or cost, a message rate, runs at once), from their own
quota, their groups' or everyone's. Checked before a run is stored, so before the model is called, on every
interface."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, Sum
from django.utils import timezone

from chat.models import Quota, Usage
from core.errors import ServiceError
from core.presence import rows_exist


@dataclass(frozen=True)
class Limits:
    """What a user may use: a monthly budget (None: none), and rates (0: no limit)."""

    tokens: int | None = None
    cost: Decimal | None = None
    messages_per_minute: int = 0
    concurrent_runs: int = 0

    @property
    def unbudgeted(self) -> bool:
        return self.tokens is None and self.cost is None


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The start of this calendar month and of the next, in the site's time zone."""
    local = timezone.localtime(now)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)


def quota_limits(user: AbstractBaseUser) -> Limits:
    """The user's own quota, else the most generous of their groups' quotas, else the one for everyone, else the
    site's settings."""
    if not rows_exist(Quota):
        return _limits([])
    quotas = list(Quota.objects.filter(Q(user=user) | Q(group__in=user.groups.all()) | Q(user=None, group=None)))
    for level in (
        [quota for quota in quotas if quota.user_id],
        [quota for quota in quotas if quota.group_id],
        [quota for quota in quotas if not quota.user_id and not quota.group_id],
    ):
        if level:
            return _limits(level)
    return _limits([])


def _limits(quotas: list[Quota]) -> Limits:
    """The most generous of these quotas: no budget beats any budget, and no limit (0) beats any limit."""
    site = settings.SWITCHBOARD
    rate = [q.messages_per_minute if q.messages_per_minute is not None else site["RATE_MESSAGES_PER_MINUTE"]
            for q in quotas] or [site["RATE_MESSAGES_PER_MINUTE"]]  # fmt: skip
    runs = [q.concurrent_runs if q.concurrent_runs is not None else site["RUNS_CONCURRENT_PER_USER"]
            for q in quotas] or [site["RUNS_CONCURRENT_PER_USER"]]  # fmt: skip
    return Limits(
        tokens=_most(q.monthly_tokens for q in quotas) if quotas else None,
        cost=_most(q.monthly_cost for q in quotas) if quotas else None,
        messages_per_minute=0 if 0 in rate else max(rate),
        concurrent_runs=0 if 0 in runs else max(runs),
    )


def _most(values: Iterable[Any]) -> Any:
    """The most generous of these budgets: none at all wins."""
    values = list(values)
    return None if None in values else max(values)


def usage_this_month(user: AbstractBaseUser) -> tuple[int, Decimal]:
    """Tokens and cost the user's runs have used since the month began."""
    start, _ = month_bounds()
    totals = Usage.objects.filter(user=user, created_at__gte=start).aggregate(
        tokens=Sum("total_tokens"), cost=Sum("cost")
    )
    return totals["tokens"] or 0, totals["cost"] or Decimal(0)


def budget_check(user: AbstractBaseUser, limits: Limits) -> None:
    """Refuse a new run once the user has used a whole monthly budget (at the budget is over it)."""
    if limits.unbudgeted:
        return
    tokens, cost = usage_this_month(user)
    if limits.tokens is not None and tokens >= limits.tokens:
        spent = f"{tokens:,} of {limits.tokens:,} tokens"
    elif limits.cost is not None and cost >= limits.cost:
        spent = f"{cost:.2f} of {limits.cost:.2f} in cost"
    else:
        return
    following = month_bounds()[1]
    raise ServiceError(
        "insufficient_quota",
        f"You have used your monthly budget ({spent}). It renews on {following:%Y-%m-%d}; an admin can raise it.",
        retry_after=max(1, int((following - timezone.now()).total_seconds())),
    )
