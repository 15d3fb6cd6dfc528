from __future__ import annotations

from django.contrib import admin

from core.models import AuditEntry, ExternalIdentity, SiteDefault


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only, and for superusers only: the log is evidence, not data to edit."""

    list_display = ("created_at", "username", "action", "target_type", "target", "outcome")
    list_filter = ("action", "target_type")
    search_fields = ("username", "target", "target_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    @admin.display(description="outcome")
    def outcome(self, entry: AuditEntry) -> str:
        return str(entry.details.get("outcome", ""))

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """Who each single sign-on user is at the provider; a superuser links a local account by adding one here."""

    list_display = ("user", "issuer", "subject", "last_sign_in_at")
    search_fields = ("user__username", "subject")
    raw_id_fields = ("user",)
    readonly_fields = ("synced_groups", "last_sign_in_at")

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(SiteDefault)
class SiteDefaultAdmin(admin.ModelAdmin):
    """One row: the site's defaults, for superusers."""

    list_display = ("__str__", "default_assistant", "sharing_enabled")

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser and not SiteDefault.objects.exists()
