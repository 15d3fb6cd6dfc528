from __future__ import annotations

from django.contrib import admin

from core.admin_forms import SuperuserOnlyAdmin
from guardrails.forms import GuardrailAdminForm
from guardrails.models import Guardrail


@admin.register(Guardrail)
class GuardrailAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    """Superusers' guardrails: mandatory ones check every assistant's runs; owners add their own on its page."""

    form = GuardrailAdminForm
    list_display = ("name", "kind", "stage", "assistant", "mandatory", "enabled")
    list_filter = ("kind", "stage", "mandatory", "enabled")
    search_fields = ("name", "assistant__name", "assistant__id")
    autocomplete_fields = ("assistant", "judge")
    list_select_related = ("assistant",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"acting_user": request.user})
