"""The team section of an assistant's page: `{% load teams %}{% assistant_team assistant %}`."""

from __future__ import annotations

from typing import Any

from django import template

from assistants.models import Assistant
from assistants.services import assistant_can_edit
from teams.models import HANDOFF_PREFIX, Link
from teams.services import link_list

register = template.Library()


@register.inclusion_tag("teams/_section.html", takes_context=True)
def assistant_team(context: dict[str, Any], assistant: Assistant) -> dict[str, Any]:
    user = context["request"].user
    can_edit = assistant_can_edit(user=user, assistant=assistant)
    others = Assistant.objects.usable_by(user).exclude(pk=assistant.pk).order_by("name") if can_edit else []
    return {
        "assistant": assistant,
        "links": list(link_list(assistant=assistant)),
        "can_edit": can_edit,
        "others": others,
        "kinds": Link.Kind.choices,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def handoff_note(step: dict[str, Any]) -> str:
    """A completed handoff's line in the chat ("Handed off to X."), or "" for any other step."""
    calls = (step.get("step_details") or {}).get("tool_calls") or [{}]
    name = (calls[0].get("function") or {}).get("name") or ""
    if step.get("status") != "completed" or not name.startswith(HANDOFF_PREFIX):
        return ""
    return calls[0]["function"].get("output") or ""
