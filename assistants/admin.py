from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from assistants.factory import model_refusal
from assistants.models import Assistant, ModelPrice, Provider
from assistants.presets import PRESETS
from assistants.services import assistant_choices_check, provider_check
from core.admin_forms import SecretFieldsAdmin, SecretFormMixin, SuperuserOnlyAdmin


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
            "enabled", "everyone", "groups",
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
        if cleaned.get("kind") and cleaned.get("default_model"):
            probe = Provider(kind=cleaned["kind"])
            if refusal := model_refusal(provider=probe, model_name=cleaned["default_model"]):
                self.add_error("default_model", refusal)
        return cleaned


class ModelPriceInline(admin.TabularInline):
    model = ModelPrice
    extra = 1
    verbose_name = "price"
    verbose_name_plural = "prices (per million tokens; a row without a model prices every other model)"


@admin.register(Provider)
class ProviderAdmin(SecretFieldsAdmin, SuperuserOnlyAdmin, admin.ModelAdmin):
    form = ProviderForm
    inlines = (ModelPriceInline,)
    secret_fields = ("api_key",)
    list_display = ("name", "kind", "api_style", "base_url", "default_model", "enabled", "everyone")
    list_filter = ("kind", "api_style", "enabled", "everyone", "groups")
    filter_horizontal = ("groups",)
    search_fields = ("name", "base_url", "default_model")
    readonly_fields = ("created_at", "updated_at")
    actions = ("test_provider",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new provider is most often an OpenAI-compatible endpoint (the model's default kind), and nearly all of
        # them speak Chat Completions; the OpenAI preset picks Responses.
        return {"api_style": Provider.ApiStyle.CHAT_COMPLETIONS, **super().get_changeform_initial_data(request)}

    @admin.action(description="Test provider (one small real request)", permissions=["change"])
    def test_provider(self, request, queryset) -> None:
        for provider in queryset:
            result = async_to_sync(provider_check)(provider=provider)
            level = messages.SUCCESS if result.ok else messages.ERROR
            verdict = "OK" if result.ok else "Failed"
            self.message_user(request, f"{provider.name}: {verdict} in {result.latency_ms} ms. {result.message}", level)


class AssistantAdminForm(forms.ModelForm):
    """For staff who are not superusers, the app's own rules: no shared assistants, and only the providers and
    servers both they and the assistant's owner may use (the assistant acts as its owner)."""

    # Set by AssistantAdmin.get_form: who is editing.
    acting_user: Any = None

    class Meta:
        model = Assistant
        fields = (
            "owner", "name", "description", "instructions", "provider", "model", "temperature", "top_p",
            "max_output_tokens", "parallel_tool_calls", "tool_choice", "mcp_servers", "metadata", "everyone", "groups",
        )  # fmt: skip

    def clean(self) -> dict:
        cleaned = super().clean()
        provider = cleaned.get("provider")
        if provider is not None and "model" not in self.errors:
            model_name = cleaned.get("model") or provider.default_model
            if model_name and (refusal := model_refusal(provider=provider, model_name=model_name)):
                self.add_error("model", refusal)
        user = self.acting_user
        if user is None or user.is_superuser:
            return cleaned
        owner = cleaned.get("owner")
        if owner is None:
            self.add_error("owner", "Only a superuser can make a shared assistant: choose its owner.")
            return cleaned
        provider = cleaned.get("provider")
        provider_changed = provider is not None and provider.pk != self.instance.provider_id
        current = set() if self.instance._state.adding else set(self.instance.mcp_servers.values_list("pk", flat=True))
        added = {server.pk for server in cleaned.get("mcp_servers") or []} - current
        if owner.pk != self.instance.owner_id:
            # A new owner gets every server and the provider: all of it must be theirs to use.
            added |= current
            provider_changed = provider is not None
        for who, whose in ((user, "you"), (owner, "its owner")):
            checked = assistant_choices_check(
                user=who, provider=provider if provider_changed else None, servers_added=added, whose=whose
            )
            for field, errors in checked.items():
                if field not in self.errors:
                    self.add_error(field, errors)
        return cleaned


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    form = AssistantAdminForm
    list_display = ("name", "id", "owner", "provider", "model", "updated_at")
    list_filter = ("provider", "parallel_tool_calls")
    search_fields = ("id", "name", "description", "owner__username")
    autocomplete_fields = ("owner",)
    filter_horizontal = ("mcp_servers", "groups")
    readonly_fields = ("id", "created_at", "updated_at")
    list_select_related = ("owner", "provider")

    def get_readonly_fields(self, request, obj=None):
        # Who may use a shared assistant is for superusers to say, as shared assistants are theirs to make.
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else (*fields, "everyone", "groups")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"acting_user": request.user})

    # Shared assistants reach every user: the app reserves them to superusers, and so does the admin.
    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.owner_id is None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.owner_id is None and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)
