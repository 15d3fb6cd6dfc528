from __future__ import annotations

from typing import Any

from django import template

from chat.tool_results import parts_shown

register = template.Library()


@register.filter
def tool_parts(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """A step's rich result parts, ready for the tool card (empty for a result that was only text)."""
    return parts_shown(metadata)
