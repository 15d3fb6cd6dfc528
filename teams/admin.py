from __future__ import annotations

from django.contrib import admin

from teams.models import Link


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ("assistant", "kind", "target", "description")
    list_filter = ("kind",)
    search_fields = ("assistant__name", "target__name")
    autocomplete_fields = ("assistant", "target")
    list_select_related = ("assistant", "target")

    def has_add_permission(self, request) -> bool:
        # Adding goes through the assistant's page, which refuses cycles; the admin lists and removes links.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
