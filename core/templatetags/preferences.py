"""The user's theme on every page, the theme switch, and the preferences section of the account page."""

from __future__ import annotations

from typing import Any

from django import template

from core.preferences import Theme, preference_get

register = template.Library()


def _theme(context: template.Context) -> str:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or not getattr(user, "is_authenticated", False):
        return Theme.SYSTEM
    return preference_get(user=user).theme


@register.simple_tag(takes_context=True)
def user_theme(context: template.Context) -> str:
    return _theme(context)


@register.inclusion_tag("core/_theme_switch.html", takes_context=True)
def theme_switch(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    return {"themes": Theme.choices, "current": _theme(context), "next": request.get_full_path(), "request": request}


@register.inclusion_tag("core/_preferences.html", takes_context=True)
def preferences_section(context: template.Context) -> dict[str, Any]:
    from core.preference_views import preference_form

    request = context["request"]
    return {"form": preference_form(user=request.user), "request": request}
