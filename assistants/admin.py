from __future__ import annotations

from django import forms
from django.contrib import admin

from assistants.models import Assistant, Provider
from core.admin_forms import SecretFormMixin


class ProviderForm(SecretFormMixin, forms.ModelForm):
    secret_fields = ("api_key",)
    api_key = forms.CharField(
        required=False,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Provider
        fields = (
            "name",
            "kind",
            "api_style",
            "base_url",
            "api_key",
            "default_model",
            "timeout",
            "max_retries",
            "enabled",
        )


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "api_style", "base_url", "default_model", "enabled")
    list_filter = ("kind", "api_style", "enabled")
    search_fields = ("name", "base_url", "default_model")
    readonly_fields = ("created_at", "updated_at")

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "owner", "provider", "model", "updated_at")
    list_filter = ("provider", "parallel_tool_calls")
    search_fields = ("id", "name", "description", "owner__username")
    autocomplete_fields = ("owner",)
    filter_horizontal = ("mcp_servers",)
    readonly_fields = ("id", "created_at", "updated_at")
    list_select_related = ("owner", "provider")
