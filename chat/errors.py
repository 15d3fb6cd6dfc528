"""Turn exceptions into errors a user can act on, without leaking secrets."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, UserError
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from assistants.errors import provider_error_describe
from assistants.services import AssistantUnavailable
from chat.models import Run
from core.errors import ServiceError
from guardrails.services import guardrail_refusal
from mcp_servers.errors import MCPConnectError, MCPConnectionLost

SHUTDOWN_MESSAGE = "The server shut down before the run finished."


class ToolCallLimit(Exception):
    """The run asked for more tool calls than one run may make."""


class PromptTokenLimit(Exception):
    """The run's next model call would take it past its max_prompt_tokens."""


def error_describe(exc: BaseException, *, model: str = "", timeout: float | None = None) -> tuple[str, str]:
    """Return (code, message) for a run that failed with this exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    if (refusal := guardrail_refusal(exc)) is not None:
        return "guardrail_tripped", refusal
    described = provider_error_describe(exc, model=model, timeout=timeout)
    if described is None and exc.__cause__ is not None:
        described = provider_error_describe(exc.__cause__, model=model, timeout=timeout)
    if described is not None:
        return described
    if isinstance(exc, MCPConnectionLost) or isinstance(exc.__cause__, MCPConnectionLost):
        lost = exc if isinstance(exc, MCPConnectionLost) else exc.__cause__
        return "tool_server_lost", f"{lost} It will be restarted for the next message."
    if isinstance(exc, MCPConnectError | AssistantUnavailable):
        return "server_error", str(exc)
    if isinstance(exc, MaxTurnsExceeded):
        return "max_turns", "The run reached its maximum number of turns."
    if isinstance(exc, ModelBehaviorError):
        return "model_error", "The model sent a response Switchboard could not use."
    if isinstance(exc, UserError):
        return "server_error", str(exc)
    if isinstance(exc, OperationalError | InterfaceError):
        return "database_unavailable", "The connection to the database dropped during the run. Send the message again."
    return "server_error", f"The run failed unexpectedly ({type(exc).__name__})."


def run_ending(exc: BaseException, *, run: Run, expiring: bool = False) -> tuple[str, dict[str, Any]]:
    """The status a run ends with when this exception stops it, and the fields that say why.

    A cancel is the user's Stop, unless this process is shutting down (`expiring`); a timeout or a limit
    leaves the run incomplete; anything else is a failure with a message the user can act on.
    """
    now = timezone.now()
    if isinstance(exc, asyncio.CancelledError):
        if expiring:
            return Run.Status.EXPIRED, {"last_error_code": "expired", "last_error": SHUTDOWN_MESSAGE}
        return Run.Status.CANCELLED, {"cancelled_at": now}
    reason = {
        TimeoutError: "run_timeout",
        ToolCallLimit: "max_tool_calls",
        MaxTurnsExceeded: "max_turns",
        PromptTokenLimit: "max_prompt_tokens",
    }.get(type(exc))
    if reason is not None:
        return Run.Status.INCOMPLETE, {"incomplete_reason": reason, "completed_at": now}
    timeout = run.assistant.provider.timeout if run.assistant else None
    code, message = error_describe(exc, model=run.model, timeout=timeout)
    return Run.Status.FAILED, {"failed_at": now, "last_error_code": code, "last_error": message}
