"""Describe provider failures in words a user can act on, without leaking secrets."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx2
import openai


def _host(exc: BaseException) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    return urlsplit(str(url)).netloc if url else "the provider"


def provider_error_describe(
    exc: BaseException, *, model: str = "", timeout: float | None = None
) -> tuple[str, str] | None:
    """Return (code, message) for a provider failure, or None if it is not one."""
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "invalid_api_key", "The provider rejected the API key."
    if isinstance(exc, openai.NotFoundError):
        return "model_not_found", f"Model {model} not found at the provider."
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit_exceeded", "The provider is rate limiting requests; try again shortly."
    if isinstance(exc, openai.APIConnectionError) and isinstance(
        exc.__cause__, httpx2.RemoteProtocolError | httpx2.ReadError
    ):
        # The provider had answered, then the stream broke off.
        return "provider_error", "The provider's answer broke off or could not be read."
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        limit = f" within {timeout:g} s" if timeout else ""
        return "provider_timeout", f"The provider did not answer{limit}."
    if isinstance(exc, openai.APIConnectionError | httpx2.ConnectError):
        return "provider_unreachable", f"The provider at {_host(exc)} could not be reached."
    if isinstance(exc, openai.InternalServerError):
        return "provider_error", f"The provider failed with HTTP {exc.status_code}."
    if isinstance(exc, openai.BadRequestError):
        return "provider_rejected", f"The provider rejected the request (HTTP {exc.status_code})."
    if isinstance(exc, openai.APIStatusError):
        return "provider_error", f"The provider answered with HTTP {exc.status_code}."
    if isinstance(exc, openai.APIError | httpx2.HTTPError | UnicodeDecodeError | json.JSONDecodeError):
        # Bytes that are not UTF-8 or JSON surface raw from the client's stream parser.
        return "provider_error", "The provider's answer broke off or could not be read."
    return None
