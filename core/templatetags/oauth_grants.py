"""The tokens page's list of MCP clients the user signed in (Switchboard's own OAuth server)."""

from __future__ import annotations

from typing import Any

from django import template

from core.oauth_server import OAuthGrant

register = template.Library()


@register.inclusion_tag("core/_oauth_grants.html", takes_context=True)
def oauth_grants_section(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    return {"grants": OAuthGrant.objects.filter(user=user).select_related("client")}
