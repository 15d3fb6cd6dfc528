from __future__ import annotations

import json

from django import template
from django.utils.safestring import SafeString, mark_safe

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


# The page's script uses the same words (static/chat/chat.js): keep the two in step.
STEP_LABELS = {
    "in_progress": "Running…",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "expired": "Expired",
}
RUN_LABELS = {"failed": "Failed", "cancelled": "Stopped", "expired": "Expired", "incomplete": "Incomplete"}


@register.filter
def step_label(status: str) -> str:
    return STEP_LABELS.get(status, status)


@register.filter
def run_label(status: str) -> str:
    return RUN_LABELS.get(status, status)
