"""The `/v1/` API's plumbing, shared by every app's endpoints: Bearer auth, the one body parser,
OpenAI's error envelope, field checks and cursor pagination.

It lives in core because both the assistant endpoints and the thread endpoints use it, and
`assistants` may not import from `chat`.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from core.errors import ServiceError
from core.ratelimit import RateLimited, rate_limit_hit
from core.throttle import client_address
from core.tokens import bearer_token, token_authenticate

logger = logging.getLogger(__name__)

BODY_MAX_BYTES = 1024 * 1024
LIMIT_DEFAULT = 20
LIMIT_MAX = 100
CURSOR_MAX_CHARS = 64

# OpenAI's client retries 409 and 5xx by default; a conflict or a bad request does not heal by repeating it.
NO_RETRY_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413})


class ApiError(Exception):
    """A refused API request, rendered as `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.retry_after = retry_after

    def response(self) -> JsonResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        response = JsonResponse(body, status=self.status)
        if self.status in NO_RETRY_STATUSES:
            response["x-should-retry"] = "false"
        if self.retry_after is not None:
            response["Retry-After"] = str(self.retry_after)
        return response


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(message: str, *, param: str | None = None) -> ApiError:
    return ApiError(404, message, param=param)


def _authenticate(request: HttpRequest) -> Any:
    raw = bearer_token(request.headers.get("Authorization"))
    if raw is None:
        raise ApiError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <token>'; create one on your "
            "settings page or with 'manage.py create_token'.",
            code="missing_api_key",
        )
    try:
        user = token_authenticate(raw, address=client_address(request))
    except ServiceError as exc:
        raise ApiError(
            429, exc.message, code="rate_limit_exceeded", type="requests", retry_after=exc.retry_after
        ) from None
    if user is None:
        raise ApiError(401, "Incorrect, revoked or expired API key provided.", code="invalid_api_key")
    try:
        rate_limit_hit(
            scope="api", user_id=user.pk, limit=settings.SWITCHBOARD["RATE_API_PER_MINUTE"], what="API requests"
        )
    except RateLimited as exc:
        # Counted before the view runs, so a refused request changes nothing.
        raise ApiError(
            429, str(exc), code="rate_limit_exceeded", type="requests", retry_after=exc.retry_after
        ) from None
    return user


def _method_check(request: HttpRequest, methods: tuple[str, ...]) -> None:
    if request.method not in methods:
        raise ApiError(
            405, f"Method {request.method} is not allowed here; use {', '.join(methods)}.", code="method_not_allowed"
        )


# How long a refused caller should wait when the refusal carries no figure of its own.
RETRY_AFTER_DEFAULT = {"too_many_runs": 5, "shutting_down": 5}
# The codes OpenAI's clients know for these cases; others keep Switchboard's own code.
WIRE_CODES = {"not_found": None, "assistant_not_found": None}
REQUEST_LIMIT_CODES = frozenset({"rate_limited", "too_many_runs"})


def service_api_error(exc: ServiceError, *, params: Mapping[str, str] | None = None) -> ApiError:
    """The API's answer to a refused service call. `params` renames service fields to the API's names."""
    param = (params or {}).get(exc.param, exc.param) if exc.param else None
    message = exc.message
    if exc.fields and param and exc.param != param:
        message = message.replace(f"{exc.param}:", f"{param}:", 1)
    return ApiError(
        exc.status,
        message,
        param=param,
        code=WIRE_CODES.get(exc.code, exc.code),
        type="requests" if exc.code in REQUEST_LIMIT_CODES else "invalid_request_error",
        retry_after=exc.retry_after if exc.retry_after is not None else RETRY_AFTER_DEFAULT.get(exc.code),
    )


def api_view(
    *methods: str, params: Mapping[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a view an API endpoint: Bearer auth (no cookies, so no CSRF), allowed methods, error envelope.

    A refused service call (ServiceError) is answered with its status; anything else is a 500 in the same
    envelope, logged with its traceback, so a client always gets an error it can parse.
    """

    def translate(exc: Exception) -> HttpResponse:
        if isinstance(exc, ApiError):
            return exc.response()
        if isinstance(exc, ServiceError):
            return service_api_error(exc, params=params).response()
        logger.exception("API request failed")
        return ApiError(500, "The server failed to answer this request.", type="server_error").response()

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                try:
                    request.user = await sync_to_async(_authenticate)(request)
                    _method_check(request, methods)
                    return await view(request, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - every failure gets the error envelope
                    return translate(exc)

            return csrf_exempt(async_wrapper)

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                request.user = _authenticate(request)
                _method_check(request, methods)
                return view(request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure gets the error envelope
                return translate(exc)

        return csrf_exempt(wrapper)

    return decorate


def body_parse(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object body; the one place request bodies are read. An empty body is `{}`."""
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise invalid("The Content-Length header is not a number.") from None
    if length > BODY_MAX_BYTES:
        raise invalid(f"The request body is over {BODY_MAX_BYTES // 1024 // 1024} MiB.", code="body_too_large")
    raw = request.body
    if len(raw) > BODY_MAX_BYTES:
        raise invalid(f"The request body is over {BODY_MAX_BYTES // 1024 // 1024} MiB.", code="body_too_large")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise invalid("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.", code="invalid_json")
    try:
        # JSON may spell a lone surrogate ("\\ud800"), which is no character and no database stores.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("The request body holds an invalid character (a lone surrogate).", code="invalid_json") from None
    return data


def fields_check(
    data: dict[str, Any], *, known: Iterable[str], unsupported: Iterable[str] = (), prefix: str = ""
) -> None:
    """Reject fields nobody defined, and OpenAI fields Switchboard does not map unless they are null."""
    known, unsupported = set(known), set(unsupported)
    for name, value in data.items():
        if name in known:
            continue
        if name in unsupported:
            if value is None:
                continue
            raise invalid(
                f"'{prefix}{name}' is not supported by Switchboard; leave it out.",
                param=f"{prefix}{name}",
                code="unsupported_parameter",
            )
        raise invalid(
            f"Unrecognized request argument supplied: {prefix}{name}", param=f"{prefix}{name}", code="unknown_parameter"
        )


def query_check(request: HttpRequest, *, known: Iterable[str]) -> None:
    known = set(known)
    for name in request.GET:
        if name not in known:
            raise invalid(f"Unrecognized query parameter: {name}", param=name, code="unknown_parameter")


def string(
    data: dict[str, Any], name: str, *, required: bool = False, nullable: bool = True, max_length: int | None = None
) -> str | None:
    """A string field; None when absent (or null, where null is allowed)."""
    if name not in data:
        if required:
            raise invalid(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")
        return None
    value = data[name]
    if value is None and nullable and not required:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string.", param=name, code="invalid_type")
    if max_length is not None and len(value) > max_length:
        raise invalid(f"'{name}' must be at most {max_length} characters.", param=name, code="string_above_max_length")
    return value


def number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"'{name}' must be a number.", param=name, code="invalid_type")
    return float(value)


def boolean(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(f"'{name}' must be a boolean.", param=name, code="invalid_type")
    return value


@dataclass(frozen=True)
class PageParams:
    limit: int
    order: str
    after: str | None
    before: str | None


PAGE_QUERY = ("limit", "order", "after", "before")


def page_params(request: HttpRequest, *, extra: Iterable[str] = ()) -> PageParams:
    """Read OpenAI's list parameters: limit 1..100 (default 20), order asc|desc (default desc), after, before."""
    query_check(request, known=(*PAGE_QUERY, *extra))
    raw_limit = request.GET.get("limit", str(LIMIT_DEFAULT))
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid("'limit' must be an integer.", param="limit", code="invalid_type") from None
    if not 1 <= limit <= LIMIT_MAX:
        raise invalid(f"'limit' must be between 1 and {LIMIT_MAX}.", param="limit", code="integer_out_of_range")
    order = request.GET.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("'order' must be 'asc' or 'desc'.", param="order", code="invalid_value")
    cursors = {}
    for name in ("after", "before"):
        value = request.GET.get(name) or None
        if value is not None and len(value) > CURSOR_MAX_CHARS:
            raise invalid(f"'{name}' must be an object id.", param=name, code="invalid_value")
        cursors[name] = value
    return PageParams(limit=limit, order=order, **cursors)


def page(queryset: QuerySet, params: PageParams, serialize: Callable[[Model], dict[str, Any]]) -> dict[str, Any]:
    """One page of a list in OpenAI's envelope. Public ids sort in creation order, so they are the cursor.

    `after` pages forward from an object; `before` pages back towards it, returning the objects nearest to
    it in the list's order. `has_more` says whether more objects lie beyond the page in the direction read.
    """
    ascending = params.order == "asc"
    queryset = queryset.order_by("pk" if ascending else "-pk")
    if params.after is not None:
        queryset = queryset.filter(pk__gt=params.after) if ascending else queryset.filter(pk__lt=params.after)
    if params.before is not None:
        # Read backwards from the cursor so the nearest objects come first, then restore the list's order.
        queryset = queryset.filter(pk__lt=params.before) if ascending else queryset.filter(pk__gt=params.before)
        queryset = queryset.reverse()
    rows = list(queryset[: params.limit + 1])
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    if params.before is not None:
        rows.reverse()
    data = [serialize(row) for row in rows]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
