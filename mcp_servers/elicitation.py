"""Elicitation: an MCP server asks the user for input in the middle of a tool call.

A server asks in one of two ways. On 2025-11-25 and before it sends an `elicitation/create` request while the
call is open; on 2026-07-28 the call answers `input_required`, and the client calls again with the user's answer
(the multi round-trip). Either way the question reaches whoever made the call, through `tool_elicitation`, set
in the caller's task (the run executor sets it for its run; this module knows nothing of runs). The call's
deadline stands still while the user answers.

The form a server may ask for is the protocol's restricted JSON Schema: an object of primitive fields (strings,
numbers, integers, booleans, and single or multiple choices). `elicitation_fields` reads one; an answer is checked
against it with `elicitation_content_validate`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlparse

from mcp_types import INVALID_PARAMS, INVALID_REQUEST, ElicitResult, ErrorData

ACTIONS = ("accept", "decline", "cancel")
STRING_FORMATS = ("email", "uri", "date", "date-time")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The most fields and options a form may have, and the size of a whole question: it is shown whole on the page.
FIELDS_MAX = 50
OPTIONS_MAX = 200
REQUEST_MAX_BYTES = 32 * 1024

# (tool name, the request) -> (action, content). The request is plain data: `mode` ("form" or "url"),
# `message`, and `requested_schema` (form) or `url` and `elicitation_id` (url).
ElicitationListener = Callable[[str, dict[str, Any]], Awaitable[tuple[str, dict[str, Any] | None]]]

# Who answers a server's questions during the tool calls made from the current task.
tool_elicitation: contextvars.ContextVar[ElicitationListener | None] = contextvars.ContextVar(
    "tool_elicitation", default=None
)


class UnsupportedForm(ValueError):
    """The requested schema is not a form of primitive fields the protocol allows."""


# --- The form ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One field of a requested form. `kind`: string, number, integer, boolean, choice or choices."""

    name: str
    kind: str
    label: str
    description: str = ""
    required: bool = False
    format: str = ""
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    default: Any = None


def _options(schema: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The choices of an enum schema, titled or not (`enum` + legacy `enumNames`, `oneOf`/`anyOf` of consts)."""
    if isinstance(schema.get("enum"), list):
        values = schema["enum"]
        names = schema.get("enumNames")
        labels = names if isinstance(names, list) and len(names) == len(values) else values
        pairs = list(zip(values, labels, strict=True))
    elif isinstance(schema.get("oneOf") or schema.get("anyOf"), list):
        entries = [entry for entry in schema.get("oneOf") or schema["anyOf"] if isinstance(entry, dict)]
        pairs = [(entry.get("const"), entry.get("title", entry.get("const"))) for entry in entries]
    else:
        return None
    if not pairs or len(pairs) > OPTIONS_MAX or not all(isinstance(v, str) and isinstance(t, str) for v, t in pairs):
        raise UnsupportedForm("a choice must offer 1 to 200 string options")
    return tuple(pairs)


def _number(schema: dict[str, Any], name: str) -> float | None:
    value = schema.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnsupportedForm(f"'{name}' must be a number")
    return value


def _field(name: str, schema: Any, required: bool) -> FormField:
    if not isinstance(schema, dict):
        raise UnsupportedForm(f"field '{name}' is not a schema")
    kind = schema.get("type")
    common = {
        "name": name,
        "label": str(schema.get("title") or name),
        "description": str(schema.get("description") or ""),
        "required": required,
        "default": schema.get("default"),
    }
    if kind == "string":
        options = _options(schema)
        if options is not None:
            return FormField(kind="choice", options=options, **common)
        fmt = schema.get("format") or ""
        if fmt not in ("", *STRING_FORMATS):
            raise UnsupportedForm(f"field '{name}' has the unknown format '{fmt}'")
        return FormField(
            kind="string",
            format=fmt,
            min_length=_number(schema, "minLength"),
            max_length=_number(schema, "maxLength"),
            **common,
        )
    if kind in ("number", "integer"):
        return FormField(kind=kind, minimum=_number(schema, "minimum"), maximum=_number(schema, "maximum"), **common)
    if kind == "boolean":
        return FormField(kind="boolean", **common)
    if kind == "array":
        options = _options(schema.get("items") or {})
        if options is None:
            raise UnsupportedForm(f"field '{name}' is a list of something other than choices")
        return FormField(
            kind="choices",
            options=options,
            min_items=_number(schema, "minItems"),
            max_items=_number(schema, "maxItems"),
            **common,
        )
    raise UnsupportedForm(f"field '{name}' has the unsupported type {kind!r}")


def elicitation_fields(schema: Any) -> list[FormField]:
    """The fields of a requested form, in the order the server gave them; UnsupportedForm if it is not one."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise UnsupportedForm("the requested schema must be an object with properties")
    properties = schema["properties"]
    if len(properties) > FIELDS_MAX:
        raise UnsupportedForm(f"a form has at most {FIELDS_MAX} fields")
    required = schema.get("required") or []
    if not isinstance(required, list):
        raise UnsupportedForm("'required' must be a list")
    return [_field(str(name), property_schema, name in required) for name, property_schema in properties.items()]


def _checked(field_: FormField, value: Any) -> Any:
    """The value a field takes, or ValueError saying what is wrong with it."""
    label = f"'{field_.label}'"
    if field_.kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"{label} must be text.")
        if field_.min_length is not None and len(value) < field_.min_length:
            raise ValueError(f"{label} must be at least {field_.min_length:g} characters long.")
        if field_.max_length is not None and len(value) > field_.max_length:
            raise ValueError(f"{label} must be at most {field_.max_length:g} characters long.")
        if field_.format == "email" and not EMAIL.match(value):
            raise ValueError(f"{label} must be an email address.")
        if field_.format == "uri" and not (urlparse(value).scheme and len(value) > len(urlparse(value).scheme) + 1):
            raise ValueError(f"{label} must be a URI, such as https://example.com/.")
        if field_.format == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{label} must be a date, such as 2026-07-28.") from None
        if field_.format == "date-time":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{label} must be a date and time, such as 2026-07-28T09:30:00Z.") from None
        return value
    if field_.kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{label} must be a number.")
        if field_.kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{label} must be a whole number.")
            value = int(value)
        if field_.minimum is not None and value < field_.minimum:
            raise ValueError(f"{label} must be at least {field_.minimum:g}.")
        if field_.maximum is not None and value > field_.maximum:
            raise ValueError(f"{label} must be at most {field_.maximum:g}.")
        return value
    if field_.kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{label} must be true or false.")
        return value
    allowed = [option for option, _ in field_.options]
    if field_.kind == "choice":
        if value not in allowed:
            raise ValueError(f"{label} must be one of: {', '.join(allowed)}.")
        return value
    if not isinstance(value, list) or any(item not in allowed for item in value):
        raise ValueError(f"{label} must be a list of: {', '.join(allowed)}.")
    if len(set(value)) != len(value):
        raise ValueError(f"{label} names an option twice.")
    if field_.min_items is not None and len(value) < field_.min_items:
        raise ValueError(f"{label} needs at least {field_.min_items:g} choice(s).")
    if field_.max_items is not None and len(value) > field_.max_items:
        raise ValueError(f"{label} takes at most {field_.max_items:g} choice(s).")
    return value


def elicitation_content_validate(schema: Any, content: Any) -> dict[str, Any]:
    """The user's answer to a form, checked against its requested schema; ValueError says what is wrong."""
    try:
        fields = {f.name: f for f in elicitation_fields(schema)}
    except UnsupportedForm as exc:
        raise ValueError(f"The form cannot be answered: {exc}.") from None
    if not isinstance(content, dict):
        raise ValueError("The answer must be an object of the form's fields.")
    unknown = sorted(set(content) - set(fields))
    if unknown:
        raise ValueError(f"'{unknown[0]}' is not a field of this form.")
    answer: dict[str, Any] = {}
    for name, form_field in fields.items():
        if name not in content or content[name] is None:
            if form_field.required:
                raise ValueError(f"'{form_field.label}' is required.")
            continue
        answer[name] = _checked(form_field, content[name])
    return answer


def elicitation_request(params: Any) -> dict[str, Any]:
    """A server's request as plain data (see ElicitationListener)."""
    wire = params.model_dump(by_alias=True, mode="json", exclude_none=True)
    mode = wire.get("mode") or "form"
    request: dict[str, Any] = {"mode": mode, "message": str(wire.get("message") or "")}
    if mode == "url":
        request |= {"url": wire.get("url") or "", "elicitation_id": wire.get("elicitationId") or ""}
    else:
        request["requested_schema"] = wire.get("requestedSchema") or {}
    return request


# --- The calls that may be asked about -----------------------------------------------------------------------------


@dataclass(eq=False)
class CallInFlight:
    """One tool call a connection is making: who answers its questions, and its deadline (stopped meanwhile)."""

    name: str
    listener: ElicitationListener | None
    timeout: float
    deadline: asyncio.Timeout | None = None
    waiting: set[asyncio.Task] = field(default_factory=set)


class CallsInFlight:
    """The tool calls one connection is making, so that a server's question reaches the caller it is about."""

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        self.calls: list[CallInFlight] = []

    @contextmanager
    def track(self, name: str, *, timeout: float) -> Iterator[CallInFlight]:
        """Hold a call in flight from the current task; once it ends, any question still open is cancelled."""
        call = CallInFlight(name=name, listener=tool_elicitation.get(), timeout=timeout)
        self.calls.append(call)
        try:
            yield call
        finally:
            self.calls.remove(call)
            for task in call.waiting:
                task.cancel()

    async def elicit(self, context: Any, params: Any) -> ElicitResult | ErrorData:
        """The client session's elicitation callback: a question the server sent during a call (2025-11-25)."""
        if not self.calls:
            return ErrorData(code=INVALID_REQUEST, message="No tool call is under way to ask the user about.")
        # The protocol's request names no call. Only one caller at a time may be asked: a connection shared by
        # several runs cannot tell whose call asked, and one user must never see another's question.
        listeners = {call.listener for call in self.calls}
        if len(listeners) != 1 or None in listeners:
            return ErrorData(
                code=INVALID_REQUEST,
                message="The client cannot tell which of the tool calls under way asked; try again when only one is.",
            )
        return await self.ask(self.calls[0], params)

    async def ask(self, call: CallInFlight, params: Any) -> ElicitResult | ErrorData:
        """Ask the call's caller, with the call's deadline stopped until they answer."""
        if call.listener is None:
            return ErrorData(code=INVALID_REQUEST, message="Nobody can answer a question during this tool call.")
        try:
            request = elicitation_request(params)
            if len(json.dumps(request)) > REQUEST_MAX_BYTES:
                raise UnsupportedForm(f"the question is longer than {REQUEST_MAX_BYTES // 1024} KiB")
            if request["mode"] == "form":
                elicitation_fields(request["requested_schema"])
        except UnsupportedForm as exc:
            return ErrorData(code=INVALID_PARAMS, message=f"The client cannot show this form: {exc}.")
        if call.deadline is not None:
            call.deadline.reschedule(None)
        task = asyncio.ensure_future(call.listener(call.name, request))
        call.waiting.add(task)
        try:
            action, content = await task
        except asyncio.CancelledError:
            if task.cancelled() and not asyncio.current_task().cancelling():
                # The call ended (it was stopped) while the user had not answered.
                return ElicitResult(action="cancel")
            raise
        finally:
            call.waiting.discard(task)
            if call.deadline is not None and not call.waiting and call in self.calls:
                call.deadline.reschedule(asyncio.get_running_loop().time() + call.timeout)
        return ElicitResult(action=action, content=content if action == "accept" else None)
