"""What a run costs and leaves on record: its token usage and cost, the row that keeps them for accounting, and
the audit entry of each tool call it made."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from assistants.models import ModelPrice
from chat.models import Run, RunStep, Usage
from core.audit import audit_entry, tool_arguments_audited
from core.metrics import cost_record
from core.models import AuditEntry

USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _tokens(usage: Any) -> dict[str, int]:
    """A model call's usage, as the run's and its steps' token fields."""
    return {
        "prompt_tokens": usage.input_tokens or 0,
        "completion_tokens": usage.output_tokens or 0,
        "total_tokens": usage.total_tokens or 0,
    }


class RunAccount:
    """One stretch of a run's usage (a resumed run's first stretch is already on its row), at its model's price."""

    def __init__(self, price: ModelPrice | None) -> None:
        self.price = price
        self.pending: Any = None  # the last model call's usage, until the step it produced takes it
        self.used = dict.fromkeys(USAGE_FIELDS, 0)
        self.tool_calls = 0
        self.started = time.monotonic()

    def model_called(self, usage: Any) -> None:
        self.pending = usage
        if usage is not None:
            for name, value in _tokens(usage).items():
                self.used[name] += value

    def take(self) -> dict[str, Any]:
        """The usage of the model call that produced the next step, and its cost, once."""
        usage, self.pending = self.pending, None
        if usage is None:
            return {}
        tokens = _tokens(usage)
        return {**tokens, "cost": self.cost_of(tokens)}

    def apply(self, step: RunStep) -> None:
        for name, value in self.take().items():
            setattr(step, name, getattr(step, name) + value)

    def cost_of(self, tokens: dict[str, int]) -> Decimal:
        if self.price is None:
            return Decimal(0)
        return self.price.cost(prompt_tokens=tokens["prompt_tokens"], completion_tokens=tokens["completion_tokens"])

    def record(self, run: Run) -> Usage:
        """Add this stretch's usage to the run's, and the row that keeps it for accounting."""
        cost = self.cost_of(self.used)
        for name, value in self.used.items():
            setattr(run, name, getattr(run, name) + value)
        run.cost += cost
        # Only what is loaded already (the executor loads the assistant and its provider): this runs on the loop.
        assistant = run.assistant if Run.assistant.field.is_cached(run) else None
        provider = None
        if assistant is not None and assistant.provider_id == run.provider_id:
            provider = assistant.provider if type(assistant).provider.field.is_cached(assistant) else None
        cost_record(provider=provider.name if provider is not None else "", model=run.model, cost=float(cost))
        return Usage(
            user_id=run.conversation.owner_id,
            run_id=run.pk,
            thread_id=run.conversation_id,
            assistant_id=run.assistant_id,
            assistant_name=assistant.name if assistant is not None else "",
            provider_id=run.provider_id,
            provider_name=provider.name if provider is not None else "",
            model=run.model,
            status=run.status,
            cost=cost,
            tool_calls=self.tool_calls,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            **self.used,
        )


def tool_audit(run: Run, step: RunStep) -> AuditEntry:
    """The audit entry of a tool call that ended, however it ended."""
    try:
        arguments = json.loads(step.arguments or "{}")
    except ValueError:
        arguments = {}
    denied = run.approval_of(step.tool_call_id) == "denied"
    return audit_entry(
        user=run.conversation.owner,
        action=AuditEntry.Action.TOOL_CALL,
        target_type="tool",
        target_id=step.tool_call_id,
        target_name=step.tool_name,
        details={
            "assistant": run.assistant_id,
            "server": step.server_name,
            "thread": run.conversation_id,
            "run": run.pk,
            "outcome": "denied" if denied else step.status,
            "duration_ms": step.duration_ms,
            **tool_arguments_audited(arguments),
        },
    )
