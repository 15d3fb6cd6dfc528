"""Turn exceptions into errors a user can act on, without leaking secrets."""

from __future__ import annotations

from urllib.parse import urlsplit

import openai
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, UserError

from assistants.services import AssistantUnavailable
from mcp_servers.pool import MCPConnectError


class ServiceError(Exception):
    """A refused request: a stable code and a message safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _host(exc: openai.APIError) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    return urlsplit(str(url)).netloc if url else "the provider"


def error_describe(exc: BaseException, *, model: str = "", timeout: float | None = None) -> tuple[str, str]:
    """Return (code, message) for a run that failed with this exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "invalid_api_key", "The provider rejected the API key."
    if isinstance(exc, openai.NotFoundError):
        return "model_not_found", f"Model {model} not found at the provider."
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit_exceeded", "The provider is rate limiting requests; try again shortly."
    if isinstance(exc, openai.APITimeoutError):
        limit = f" within {timeout:g} s" if timeout else ""
        return "provider_timeout", f"The provider did not answer{limit}."
    if isinstance(exc, openai.APIConnectionError):
        return "provider_unreachable", f"The provider at {_host(exc)} could not be reached."
    if isinstance(exc, openai.InternalServerError):
        return "provider_error", f"The provider failed with HTTP {exc.status_code}."
    if isinstance(exc, openai.BadRequestError):
        return "provider_rejected", f"The provider rejected the request (HTTP {exc.status_code})."
    if isinstance(exc, openai.APIError):
        return "provider_error", "The provider answered with an error."
    if isinstance(exc, MCPConnectError | AssistantUnavailable):
        return "server_error", str(exc)
    if isinstance(exc, MaxTurnsExceeded):
        return "max_turns", "The run reached its maximum number of turns."
    if isinstance(exc, ModelBehaviorError):
        return "model_error", f"The model sent a response Switchboard could not use: {exc}"
    if isinstance(exc, UserError):
        return "server_error", str(exc)
    return "server_error", f"The run failed unexpectedly ({type(exc).__name__})."
