"""The knowledge section of an assistant's page: `{% load knowledge %}{% assistant_knowledge assistant %}`."""

from __future__ import annotations

from typing import Any

from django import template

from assistants.models import Assistant
from assistants.services import assistant_knowledge

register = template.Library()


@register.inclusion_tag("assistants/_knowledge.html", takes_context=True)
def assistant_knowledge_section(context: dict[str, Any], assistant: Assistant) -> dict[str, Any]:
    user = context["request"].user
    own = assistant.owner_id == user.pk
    return {
        "assistant": assistant,
        "own": own,
        "entries": assistant_knowledge(user=user, assistant=assistant) if own else [],
        "csrf_token": context.get("csrf_token"),
    }
