"""Forms for the assistant pages; validation rules live on the model and in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from assistants.models import Assistant, Provider
from assistants.services import mcp_server_usable, provider_usable
from core.errors import ServiceError
from mcp_servers.models import MCPServer


class AssistantForm(forms.ModelForm):
    class Meta:
        model = Assistant
        fields = (
            "name", "description", "provider", "model", "instructions", "mcp_servers", "temperature", "top_p",
            "max_output_tokens", "parallel_tool_calls", "tool_choice",
        )  # fmt: skip
        labels = {
            "mcp_servers": "MCP servers",
            "top_p": "Top p",
            "max_output_tokens": "Max output tokens",
            "parallel_tool_calls": "Allow parallel tool calls",
        }
        help_texts = {
            "model": "Empty: the provider's default model.",
            "instructions": "What the assistant is told before every conversation.",
            "mcp_servers": "The tools the assistant may call.",
            "temperature": "0 to 2. Empty: the model's default.",
            "top_p": "0 to 1. Empty: the model's default.",
            "tool_choice": "auto, required, none, or a tool name. Empty: auto.",
        }
        widgets = {
            "instructions": forms.Textarea(attrs={"rows": 8}),
            "mcp_servers": forms.CheckboxSelectMultiple,
            "temperature": forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "2"}),
            "top_p": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
            "max_output_tokens": forms.NumberInput(attrs={"min": "1"}),
        }

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["provider"].empty_label = None
        providers = provider_usable(user=user)
        servers = mcp_server_usable(user=user)
        if self.instance.pk and not self.instance._state.adding:
            # What the assistant already uses stays selectable, so saving the form does not silently drop it.
            providers = Provider.objects.filter(Q(pk__in=providers.values("pk")) | Q(pk=self.instance.provider_id))
            attached = self.instance.mcp_servers.values("pk")
            servers = MCPServer.objects.filter(Q(pk__in=servers.values("pk")) | Q(pk__in=attached))
        self.fields["provider"].queryset = providers.order_by("name")
        self.fields["mcp_servers"].queryset = servers.order_by("name")

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values, ready for assistant_create or assistant_update."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    def add_service_errors(self, error: ServiceError) -> None:
        """Show a service's field errors next to their fields, and any other under the form."""
        if not error.fields:
            self.add_error(None, error.message)
            return
        for field, errors in error.fields.items():
            self.add_error(field if field in self.fields else None, errors)
