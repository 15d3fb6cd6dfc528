"""The message Markdown renderer as a template filter, for pages that show text written in Markdown (tool and
server descriptions); messages themselves come rendered from the chat timeline."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from chat.markdown import markdown_render

register = template.Library()


@register.filter
def markdown(text: str | None) -> SafeString:
    """Sanitized HTML for Markdown text; raw HTML in it stays text."""
    return mark_safe(markdown_render(text or ""))  # noqa: S308 - nh3 sanitized it
