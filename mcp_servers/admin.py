from __future__ import annotations

from django import forms
from django.contrib import admin

from core.admin_forms import SecretFormMixin, SecretJSONField, SuperuserOnlyAdmin
from mcp_servers.models import MCPServer


class MCPServerForm(SecretFormMixin, forms.ModelForm):
    secret_fields = ("env", "headers")
    env = SecretJSONField(label="Environment", help_text='stdio: a JSON object, like {"TOKEN": "…"}.')
    headers = SecretJSONField(label="HTTP headers", help_text='A JSON object, like {"Authorization": "Bearer …"}.')

    class Meta:
        model = MCPServer
        fields = (
            "name", "description", "transport", "enabled", "command", "args", "cwd", "env", "url", "headers",
            "connect_timeout", "call_timeout", "scope", "allowed_tools", "denied_tools", "approval", "approval_tools",
        )  # fmt: skip


@admin.register(MCPServer)
class MCPServerAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    form = MCPServerForm
    list_display = ("name", "transport", "enabled", "scope", "approval", "last_status", "last_checked_at")
    list_filter = ("transport", "enabled", "scope", "approval", "last_status")
    search_fields = ("name", "description", "command", "url")
    readonly_fields = ("last_status", "last_error", "last_latency_ms", "last_checked_at", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "transport", "enabled")}),
        ("stdio", {"fields": ("command", "args", "cwd", "env")}),
        ("HTTP, SSE and WebSocket", {"fields": ("url", "headers")}),
        ("Behaviour", {"fields": ("connect_timeout", "call_timeout", "scope", "allowed_tools", "denied_tools")}),
        ("Approval", {"fields": ("approval", "approval_tools")}),
        (
            "Status",
            {"fields": ("last_status", "last_error", "last_latency_ms", "last_checked_at", "created_at", "updated_at")},
        ),
    )
