"""The guardrails section of an assistant's page: `{% load guardrails %}{% assistant_guardrails assistant %}`."""

from __future__ import annotations

from typing import Any

from django import template

from assistants.models import Assistant
from assistants.services import assistant_can_edit
from guardrails.services import guardrail_list

register = template.Library()


@register.inclusion_tag("guardrails/_section.html", takes_context=True)
def assistant_guardrails(context: dict[str, Any], assistant: Assistant) -> dict[str, Any]:
    user = context["request"].user
    return {
        "assistant": assistant,
        "guardrails": list(guardrail_list(assistant=assistant)),
        "can_edit": assistant_can_edit(user=user, assistant=assistant),
        "csrf_token": context.get("csrf_token"),
    }
