from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from chat.citations import file_search_card
from chat.markdown import markdown_render

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return mark_safe(markdown_render(text))  # noqa: S308 - sanitized by nh3


@register.filter
def pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


STEP_LABELS = {
    "in_progress": "Running…",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Stopped",  # the run was stopped before the call answered; a refused call says "Denied"
    "expired": "Expired",
}
RUN_LABELS = {"failed": "Failed", "cancelled": "Stopped", "expired": "Expired", "incomplete": "Incomplete"}


@register.filter
def step_label(status: str) -> str:
    return STEP_LABELS.get(status, status)


@register.filter
def run_label(status: str) -> str:
    return RUN_LABELS.get(status, status)


@register.filter
def message_text(message: dict) -> str:
    """The text of an Assistants v2 message object."""
    return "".join(part.get("text", {}).get("value", "") for part in message.get("content") or [])


@register.filter
def tool_call(step: dict) -> dict:
    """The one tool call of an Assistants v2 tool step, with its function's name, arguments and output."""
    calls = (step.get("step_details") or {}).get("tool_calls") or [{}]
    if calls[0].get("type") == "file_search":
        return file_search_card(step, calls[0])
    return calls[0]


@register.filter
def html_of(message: dict) -> SafeString:
    return mark_safe(message.get("content_html", ""))  # noqa: S308 - rendered and sanitized by nh3 on the server


@register.filter
def from_timestamp(value: int | None) -> datetime | None:
    """A wire object's Unix time, in the site's time zone."""
    if value is None:
        return None
    return timezone.localtime(datetime.fromtimestamp(value, tz=UTC))


@register.filter
def duration(milliseconds: int | str | None) -> str:
    """Milliseconds (a number, or the string a step's metadata holds) as a short duration."""
    if milliseconds is None or milliseconds == "":
        return ""
    milliseconds = int(milliseconds)
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


@register.filter
def cost(value: Decimal | None) -> str:
    """A cost without trailing zeros: 0.0012, not 0.001200."""
    if not value:
        return ""
    return format(value.normalize(), "f")


@register.filter
def recency(value: datetime | None) -> str:
    """Which stretch of time a conversation was last active in, for the headings of the conversation list."""
    if value is None:
        return "Older"
    days = (timezone.localdate() - timezone.localtime(value).date()).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:
        return "Previous 7 days"
    if days < 30:
        return "Previous 30 days"
    return "Older"
