from __future__ import annotations

from django.contrib import admin

from chat.models import Conversation, Message, Quota, Run, RunStep, Usage


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("id", "role", "status", "content", "created_at")
    readonly_fields = fields


class RunInline(ReadOnlyInline):
    model = Run
    fk_name = "conversation"
    fields = ("id", "status", "model", "last_error", "total_tokens", "created_at", "completed_at")
    readonly_fields = fields


class RunStepInline(ReadOnlyInline):
    model = RunStep
    fields = ("id", "type", "status", "tool_name", "server_name", "arguments", "output", "error", "duration_ms")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "assistant", "updated_at")
    list_filter = ("assistant",)
    search_fields = ("id", "title", "owner__username")
    readonly_fields = ("id", "created_at", "updated_at")
    list_select_related = ("owner", "assistant")
    inlines = (MessageInline, RunInline)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "status", "created_at")
    list_filter = ("role", "status")
    search_fields = ("id", "content", "conversation__id")
    readonly_fields = ("id", "created_at", "completed_at")
    raw_id_fields = ("conversation", "run", "assistant")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = (
        "id", "conversation", "assistant", "status", "model", "total_tokens", "cost", "worker", "created_at"
    )  # fmt: skip
    list_filter = ("status", "assistant", "model")
    search_fields = ("id", "conversation__id", "last_error")
    readonly_fields = [f.name for f in Run._meta.fields if f.name != "paused_state"]
    exclude = ("paused_state",)
    inlines = (RunStepInline,)
    change_list_template = "admin/chat/run/change_list.html"


@admin.register(RunStep)
class RunStepAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "type", "status", "tool_name", "server_name", "duration_ms", "created_at")
    list_filter = ("type", "status", "server_name")
    search_fields = ("id", "run__id", "tool_name")
    readonly_fields = [f.name for f in RunStep._meta.fields]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "group", "monthly_tokens", "monthly_cost")
    list_select_related = ("user", "group")
    raw_id_fields = ("user",)
    search_fields = ("user__username", "group__name")


@admin.register(Usage)
class UsageAdmin(admin.ModelAdmin):
    """Read only: usage is what runs recorded. Staff see it summed on /usage/."""

    list_display = ("created_at", "user", "run_id", "assistant_name", "provider_name", "model", "status",
                    "total_tokens", "cost")  # fmt: skip
    list_filter = ("status", "provider_name", "model")
    search_fields = ("run_id", "thread_id", "user__username", "assistant_name")
    list_select_related = ("user",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
