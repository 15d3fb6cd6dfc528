from __future__ import annotations

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages

from assistants.models import Assistant, Provider
from assistants.presets import PRESETS
from assistants.services import provider_check
from core.admin_forms import SecretFormMixin, SuperuserOnlyAdmin


class ProviderForm(SecretFormMixin, forms.ModelForm):
    secret_fields = ("api_key",)
    preset = forms.ChoiceField(
        required=False,
        choices=[("", "— none: fill in the fields below —"), *((k, p.label) for k, p in PRESETS.items())],
        help_text="Fills kind, API style, base URL and default model where you left them empty.",
    )
    api_key = forms.CharField(
        required=False,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Provider
        fields = (
            "name", "preset", "kind", "api_style", "base_url", "api_key", "default_model", "timeout", "max_retries",
            "enabled",
        )  # fmt: skip

    def clean(self) -> dict:
        cleaned = super().clean()
        preset = PRESETS.get(cleaned.get("preset") or "")
        if preset is not None:
            cleaned["kind"] = preset.kind
            cleaned["api_style"] = preset.api_style
            cleaned["base_url"] = cleaned.get("base_url") or preset.base_url
            cleaned["default_model"] = cleaned.get("default_model") or preset.default_model
        if cleaned.get("kind") == Provider.Kind.OPENAI_COMPATIBLE and not cleaned.get("base_url"):
            self.add_error("base_url", "An OpenAI-compatible provider needs a base URL.")
        return cleaned


@admin.register(Provider)
class ProviderAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "api_style", "base_url", "default_model", "enabled")
    list_filter = ("kind", "api_style", "enabled")
    search_fields = ("name", "base_url", "default_model")
    readonly_fields = ("created_at", "updated_at")
    actions = ("test_provider",)

    @admin.action(description="Test provider (one small real request)", permissions=["change"])
    def test_provider(self, request, queryset) -> None:
        for provider in queryset:
            result = async_to_sync(provider_check)(provider=provider)
            level = messages.SUCCESS if result.ok else messages.ERROR
            verdict = "OK" if result.ok else "Failed"
            self.message_user(request, f"{provider.name}: {verdict} in {result.latency_ms} ms. {result.message}", level)


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "owner", "provider", "model", "updated_at")
    list_filter = ("provider", "parallel_tool_calls")
    search_fields = ("id", "name", "description", "owner__username")
    autocomplete_fields = ("owner",)
    filter_horizontal = ("mcp_servers",)
    readonly_fields = ("id", "created_at", "updated_at")
    list_select_related = ("owner", "provider")
