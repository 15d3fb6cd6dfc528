from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from chat.models import Conversation, Message, Run, RunStep


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
    list_display = ("id", "conversation", "assistant", "status", "model", "total_tokens", "worker", "created_at")
    list_filter = ("status", "assistant", "model")
    search_fields = ("id", "conversation__id", "last_error")
    readonly_fields = [f.name for f in Run._meta.fields if f.name != "paused_state"]
    exclude = ("paused_state",)
    inlines = (RunStepInline,)
    change_list_template = "admin/chat/run/change_list.html"

    def get_urls(self):
        usage = self.admin_site.admin_view(self.usage_view)
        return [path("usage/", usage, name="chat_run_usage"), *super().get_urls()]

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        """Token usage summed per user, per assistant and per provider: for those who may view runs."""
        if not request.user.has_perm("chat.view_run"):
            raise PermissionDenied("You may not see server-wide usage.")
        totals = {"runs": Count("id"), "prompt": Sum("prompt_tokens"), "completion": Sum("completion_tokens")}
        totals["total"] = Sum("total_tokens")
        runs = Run.objects.all()
        context = {
            **self.admin_site.each_context(request),
            "title": "Token usage",
            "opts": self.model._meta,
            "tables": [
                (
                    "Per user",
                    runs.values(label=F("conversation__owner__username")).annotate(**totals).order_by("-total"),
                ),
                ("Per assistant", runs.values(label=F("assistant__name")).annotate(**totals).order_by("-total")),
                (
                    "Per provider",
                    runs.values(label=F("assistant__provider__name")).annotate(**totals).order_by("-total"),
                ),
            ],
        }
        return TemplateResponse(request, "admin/chat/usage.html", context)


@admin.register(RunStep)
class RunStepAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "type", "status", "tool_name", "server_name", "duration_ms", "created_at")
    list_filter = ("type", "status", "server_name")
    search_fields = ("id", "run__id", "tool_name")
    readonly_fields = [f.name for f in RunStep._meta.fields]
