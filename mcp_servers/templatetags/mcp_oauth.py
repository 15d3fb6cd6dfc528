"""The account page's list of the MCP servers a user connected their own account to."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from mcp_servers.models import OAuthAccount

register = template.Library()


@register.inclusion_tag("mcp_servers/_oauth_section.html", takes_context=True)
def oauth_accounts_section(context: template.Context) -> dict[str, Any]:
    user = context["request"].user
    accounts = OAuthAccount.objects.filter(user=user).select_related("server").order_by("server__name")
    return {"accounts": list(accounts)}


@register.filter
def connect_links(text: str) -> str:
    """Escape a warning and turn each "connect your account" path in it into a link."""
    pattern = re.escape(reverse("mcp_oauth:connect", args=[0])).replace("0", r"\d+", 1)
    return mark_safe(re.sub(pattern, lambda m: f'<a href="{m[0]}">{m[0]}</a>', str(escape(text))))  # noqa: S308
