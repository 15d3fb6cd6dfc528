from __future__ import annotations

from typing import Any

from django import template

from chat.tool_results import app_shown, parts_shown

register = template.Library()


@register.filter
def tool_parts(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """A step's rich result parts, ready for the tool card (empty for a result that was only text)."""
    return parts_shown(metadata)


@register.filter
def tool_app(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """A step's view (MCP Apps), if its tool has one: shown in a sandboxed frame on the card."""
    return app_shown(metadata)
