"""Monthly budgets: what a user may still use this month, checked before a run is stored (so before the model
is called), on every interface."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, Sum
from django.utils import timezone

from chat.models import Budget, Usage
from core.errors import ServiceError


@dataclass(frozen=True)
class Limits:
    """A user's monthly limits; None is no limit."""

    tokens: int | None = None
    cost: Decimal | None = None

    @property
    def unlimited(self) -> bool:
        return self.tokens is None and self.cost is None


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The start of this calendar month and of the next, in the site's time zone."""
    local = timezone.localtime(now)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)


def budget_limits(user: AbstractBaseUser) -> Limits:
    """The user's own budget, else the most generous of their groups' budgets, else the one for everyone."""
    budgets = list(Budget.objects.filter(Q(user=user) | Q(group__in=user.groups.all()) | Q(user=None, group=None)))
    for level in (
        [budget for budget in budgets if budget.user_id],
        [budget for budget in budgets if budget.group_id],
        [budget for budget in budgets if not budget.user_id and not budget.group_id],
    ):
        if level:
            return Limits(tokens=_most(b.monthly_tokens for b in level), cost=_most(b.monthly_cost for b in level))
    return Limits()


def _most(values) -> int | Decimal | None:
    """The most generous of these limits: none at all wins."""
    values = list(values)
    return None if None in values else max(values)


def usage_this_month(user: AbstractBaseUser) -> tuple[int, Decimal]:
    """Tokens and cost the user's runs have used since the month began."""
    start, _ = month_bounds()
    totals = Usage.objects.filter(user=user, created_at__gte=start).aggregate(
        tokens=Sum("total_tokens"), cost=Sum("cost")
    )
    return totals["tokens"] or 0, totals["cost"] or Decimal(0)


def budget_check(user: AbstractBaseUser) -> None:
    """Refuse a new run once the user has used a whole monthly limit (at the limit is over it)."""
    limits = budget_limits(user)
    if limits.unlimited:
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
