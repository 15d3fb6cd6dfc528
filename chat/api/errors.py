"""Service errors as OpenAI's error envelope: one table from service code to HTTP status."""

from __future__ import annotations

from chat.errors import ServiceError
from core.api import ApiError

# Codes not listed are requests the caller must fix: 400.
SERVICE_STATUS = {
    "not_found": 404,
    "assistant_not_found": 404,
    "run_active": 409,
    "run_not_active": 409,
    "run_not_paused": 409,
    "rate_limited": 429,
    "too_many_runs": 429,
    "shutting_down": 503,
}
# How long a refused caller should wait when the refusal carries no figure of its own.
RETRY_AFTER_DEFAULT = {"too_many_runs": 5, "shutting_down": 5}
# The codes OpenAI's clients know for these cases; others keep Switchboard's own code.
WIRE_CODES = {"not_found": None, "assistant_not_found": None}


def service_api_error(exc: Exception) -> ApiError | None:
    """The API's answer to a refused service call; None for any other exception."""
    if not isinstance(exc, ServiceError):
        return None
    retry_after = exc.retry_after if exc.retry_after is not None else RETRY_AFTER_DEFAULT.get(exc.code)
    return ApiError(
        SERVICE_STATUS.get(exc.code, 400),
        exc.message,
        param=getattr(exc, "param", None),
        code=WIRE_CODES.get(exc.code, exc.code),
        type="requests" if exc.code in ("rate_limited", "too_many_runs") else "invalid_request_error",
        retry_after=retry_after,
    )
