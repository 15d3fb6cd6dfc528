"""Turn exceptions into errors a user can act on, without leaking secrets."""

from __future__ import annotations

from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, UserError
from django.db import InterfaceError, OperationalError

from assistants.errors import provider_error_describe
from assistants.services import AssistantUnavailable
from mcp_servers.errors import MCPConnectError, MCPConnectionLost


class ServiceError(Exception):
    """A refused request: a stable code and a message safe to show."""

    def __init__(self, code: str, message: str, *, param: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The request field at fault, where there is one: the API reports it as OpenAI does.
        self.param = param
        # Seconds until a rate-limited request may be retried (the API's Retry-After).
        self.retry_after = retry_after


def error_describe(exc: BaseException, *, model: str = "", timeout: float | None = None) -> tuple[str, str]:
    """Return (code, message) for a run that failed with this exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
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
