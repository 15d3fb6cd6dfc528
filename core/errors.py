"""The one error every app's services raise for a refused request, and the statuses its codes mean.

Each interface has one translator: the `/v1/` API (`core.api`), Switchboard's MCP server, the pages and the
WebSocket. A service never raises Django's ValidationError, PermissionDenied or DoesNotExist at its callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Codes not listed are requests the caller must fix: 400.
STATUS_OF_CODE = {
    "not_found": 404,
    "assistant_not_found": 404,
    "permission_denied": 403,
    "run_active": 409,
    "run_not_active": 409,
    "run_not_paused": 409,
    "rate_limited": 429,
    "insufficient_quota": 429,
    "too_many_runs": 429,
    "shutting_down": 503,
}
# Keys of errors about the input as a whole rather than one field (Django's own and an empty one).
NON_FIELD = frozenset({"", "__all__"})


class ServiceError(Exception):
    """A refused request: a stable code, a message safe to show, and the fields at fault, if any."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        fields: Mapping[str, Sequence[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Errors per input field (a form shows each next to its field); `param` names the first for the API.
        self.fields = {name: list(messages) for name, messages in (fields or {}).items()}
        self.param = param if param is not None else next((name for name in self.fields if name not in NON_FIELD), None)
        # Seconds until a rate-limited request may be retried (the API's Retry-After).
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return STATUS_OF_CODE.get(self.code, 400)

    @classmethod
    def invalid(cls, fields: Mapping[str, Sequence[str]], *, code: str = "invalid_value") -> ServiceError:
        """Input that failed validation, with the message of each field at fault."""
        text = "; ".join(
            f"{name}: {' '.join(messages)}" if name else " ".join(messages) for name, messages in fields.items()
        )
        return cls(code, text or "Invalid input.", fields=fields)

    @classmethod
    def not_found(cls, what: str, object_id: Any) -> ServiceError:
        """Missing, or another user's: the two look the same."""
        return cls("not_found", f"No {what} found with id '{str(object_id)[:100]}'.")

    def text(self) -> str:
        """One line for an interface with no field to point at (a tool error, an error frame)."""
        return (
            f"{self.message} (param: {self.param})" if self.param and self.param not in self.message else self.message
        )
