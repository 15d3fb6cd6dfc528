"""Traces in the admin: every run's trace, for superusers only, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from assistants.models import Assistant
from observability.models import Span, Trace


class SuperuserReadOnly:
    """Traces are evidence of what happened, not data to edit; they show users' activity, so superusers only."""

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DurationFilter(admin.SimpleListFilter):
    title = "duration"
    parameter_name = "duration"
    BUCKETS = {
        "lt1": ("under 1 s", 0, 1_000),
        "1to5": ("1–5 s", 1_000, 5_000),
        "5to30": ("5–30 s", 5_000, 30_000),
        "gt30": ("slow: over 30 s", 30_000, None),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _, _) in self.BUCKETS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Trace]) -> QuerySet[Trace]:
        if self.value() not in self.BUCKETS:
            return queryset
        _, low, high = self.BUCKETS[self.value()]
        queryset = queryset.filter(duration_ms__gte=low)
        return queryset.filter(duration_ms__lt=high) if high is not None else queryset


class ToolFailureFilter(admin.SimpleListFilter):
    title = "failed tool calls"
    parameter_name = "tool_failures"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "with failed tool calls"), ("no", "without")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Trace]) -> QuerySet[Trace]:
        if self.value() == "yes":
            return queryset.filter(tool_failures__gt=0)
        if self.value() == "no":
            return queryset.filter(tool_failures=0)
        return queryset


class UserFilter(admin.SimpleListFilter):
    title = "user"
    parameter_name = "user"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        ids = Trace.objects.exclude(user_id="").values_list("user_id", flat=True).distinct()
        users = get_user_model().objects.filter(pk__in=[i for i in ids if i.isdigit()]).order_by("username")
        return [(str(user.pk), user.get_username()) for user in users]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Trace]) -> QuerySet[Trace]:
        return queryset.filter(user_id=self.value()) if self.value() else queryset


class AssistantFilter(admin.SimpleListFilter):
    title = "assistant"
    parameter_name = "assistant"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        ids = Trace.objects.exclude(assistant_id="").values_list("assistant_id", flat=True).distinct()
        return [(a.pk, a.name) for a in Assistant.objects.filter(pk__in=list(ids)).order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Trace]) -> QuerySet[Trace]:
        return queryset.filter(assistant_id=self.value()) if self.value() else queryset


class ServerFilter(admin.SimpleListFilter):
    title = "MCP server"
    parameter_name = "server"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        servers = Span.objects.filter(kind=Span.Kind.TOOL).exclude(server="").values_list("server", flat=True)
        return [(name, name) for name in sorted(set(servers.distinct()))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Trace]) -> QuerySet[Trace]:
        if not self.value():
            return queryset
        return queryset.filter(spans__kind=Span.Kind.TOOL, spans__server=self.value()).distinct()


class SpanInline(SuperuserReadOnly, admin.TabularInline):
    model = Span
    fields = ("name", "kind", "started_at", "duration_ms", "model", "tokens_in", "tokens_out", "server", "outcome")
    readonly_fields = fields
    ordering = ("started_at", "id")
    extra = 0
    show_change_link = False


@admin.register(Trace)
class TraceAdmin(SuperuserReadOnly, admin.ModelAdmin):
    list_display = (
        "trace_id",
        "run_link",
        "started_at",
        "duration_ms",
        "status",
        "tokens_in",
        "tokens_out",
        "tool_calls",
        "tool_failures",
        "waterfall_link",
    )
    list_filter = ("status", DurationFilter, ToolFailureFilter, UserFilter, AssistantFilter, ServerFilter)
    search_fields = ("trace_id", "run__id", "thread_id", "metadata__run_id")
    date_hierarchy = "started_at"
    readonly_fields = [*(f.name for f in Trace._meta.fields), "waterfall_link"]
    inlines = [SpanInline]
    list_select_related = ("run",)

    @admin.display(description="run", ordering="run")
    def run_link(self, trace: Trace) -> str:
        return trace.run_id_text or "—"

    @admin.display(description="waterfall")
    def waterfall_link(self, trace: Trace) -> str:
        if not trace.run_id or not trace.thread_id:
            return "—"
        url = reverse("observability:run_trace", args=[trace.thread_id, trace.run_id])
        return format_html('<a href="{}">waterfall</a>', url)
