"""Teams of assistants: an assistant hands the conversation off to others, or asks others as tools."""

from __future__ import annotations

import re

from django.db import models

from assistants.models import Assistant
from assistants.offline_replies import HANDOFF_PREFIX


class Link(models.Model):
    class Kind(models.TextChoices):
        HANDOFF = "handoff", "Hands off to"
        TOOL = "tool", "Asks as a tool"

    assistant = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="team_links")
    target = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.HANDOFF)
    description = models.CharField(
        max_length=500,
        blank=True,
        help_text="Handoff: when to hand off. Tool: what to ask it. Empty: the assistant's description.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "target__name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["assistant", "target", "kind"], name="teams_link_unique"),
            models.CheckConstraint(condition=~models.Q(assistant=models.F("target")), name="teams_link_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.assistant} {self.get_kind_display().lower()} {self.target}"

    @property
    def tool_name(self) -> str:
        """The name the model calls this link by: `transfer_to_<name>` or `ask_<name>`."""
        slug = re.sub(r"[^a-z0-9]+", "_", self.target.name.lower()).strip("_")[:48] or "assistant"
        return f"{HANDOFF_PREFIX if self.kind == self.Kind.HANDOFF else 'ask_'}{slug}"
