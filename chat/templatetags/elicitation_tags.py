"""The form an MCP server asks the user to fill in, as fields the chat page draws (templates/chat/_elicitation.html)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django import template

from mcp_servers.elicitation import UnsupportedForm, elicitation_fields

register = template.Library()

INPUT_TYPES = {"email": "email", "uri": "url", "date": "date", "date-time": "datetime-local"}


@register.filter
def elicitation_form(asked: dict[str, Any]) -> list[dict[str, Any]]:
    """Each field of the question's form, with what its input needs: id, input type, limits, options, default."""
    try:
        fields = elicitation_fields(asked.get("requested_schema"))
    except UnsupportedForm:
        return []  # refused before it was asked: a question on the page always has a form it can draw
    drawn = []
    for index, field in enumerate(fields):
        default = field.default
        drawn.append(
            {
                "field": field,
                "id": f"{asked['id']}-{index}",
                "input_type": INPUT_TYPES.get(field.format, "text"),
                "step": "1" if field.kind == "integer" else "any",
                "options": [
                    {
                        "value": value,
                        "label": label,
                        "id": f"{asked['id']}-{index}-{number}",
                        "chosen": value in default if isinstance(default, list) else value == default,
                    }
                    for number, (value, label) in enumerate(field.options)
                ],
                "value": "" if default is None or isinstance(default, bool | list) else default,
            }
        )
    return drawn


@register.filter
def web_url(url: str) -> str:
    """The URL if a browser may open it as a page (http or https), else ""."""
    return url if isinstance(url, str) and urlparse(url).scheme in ("http", "https") else ""
