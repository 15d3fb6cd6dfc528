from __future__ import annotations

import asyncio
import json
from typing import Any

from asgiref.sync import async_to_sync
from cryptography.fernet import InvalidToken
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from core.admin_forms import SecretFieldsAdmin, SecretFormMixin, SecretJSONField, SuperuserOnlyAdmin
from core.crypto import fernet
from mcp_servers.config_io import MAX_BYTES, ConfigError, config_apply, config_export, config_plan
from mcp_servers.models import MCPServer, OAuthClient
from mcp_servers.services import CheckResult, mcp_server_check

OAUTH_FIELDSET = "OAuth sign-in for each user"


class MCPServerForm(SecretFormMixin, forms.ModelForm):
    secret_fields = ("env", "headers")
    env = SecretJSONField(label="Environment", help_text='stdio: a JSON object, like {"TOKEN": "…"}.')
    headers = SecretJSONField(label="HTTP headers", help_text='A JSON object, like {"Authorization": "Bearer …"}.')

    class Meta:
        model = MCPServer
        fields = (
            "name", "description", "transport", "enabled", "command", "args", "cwd", "env", "network", "read_paths",
            "url", "headers",
            "connect_timeout", "call_timeout", "scope", "allowed_tools", "denied_tools", "approval", "approval_tools",
            "everyone", "groups",
        )  # fmt: skip

    # Switchboard's client at the authorization server of a server that asks each user to sign in (OAuthClient).
    oauth_client_id = forms.CharField(
        label="OAuth client id",
        required=False,
        max_length=500,
        help_text="Only for an authorization server that does not register clients itself: the client id it "
        "issued to Switchboard, with /mcp-servers/oauth/callback/ on this site's address as its redirect URI. "
        "Empty: Switchboard registers itself.",
    )
    oauth_client_secret = forms.CharField(
        label="OAuth client secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Encrypted at rest; write-only.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.oauth = OAuthClient.objects.filter(server=self.instance).first() if self.instance.pk else None
        if self.oauth is not None:
            self.fields["oauth_client_id"].initial = self.oauth.client_id
            if self.oauth.client_secret:
                self.fields["oauth_client_secret"].help_text = "A value is set. Leave empty to keep it."

    def oauth_save(self) -> None:
        """Store a client id (and secret) an administrator entered; call once the server is saved."""
        client_id = self.cleaned_data.get("oauth_client_id", "").strip()
        secret = self.cleaned_data.get("oauth_client_secret", "")
        oauth = self.oauth or OAuthClient(server=self.instance)
        if client_id == oauth.client_id and not secret:
            return
        # Entered by hand from now on: sign-ins never register over it. No id: Switchboard registers itself again.
        oauth.client_id, oauth.registered, oauth.redirect_uri = client_id, False, ""
        if not client_id:
            oauth.client_secret = ""
        elif secret:
            oauth.client_secret = secret
        oauth.save()


# How long a previewed import may wait for its confirmation.
PAYLOAD_TTL = 3600


class ImportForm(forms.Form):
    file = forms.FileField(required=False, help_text=f"An mcpServers JSON file, at most {MAX_BYTES // 1024} KiB.")
    text = forms.CharField(
        required=False,
        label="Or paste it",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "spellcheck": "false", "autocomplete": "off"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > MAX_BYTES:
                size, limit = upload.size // 1024, MAX_BYTES // 1024
                raise forms.ValidationError(f"The file is {size} KiB; the limit is {limit} KiB.")
            cleaned["data"] = upload.read()
        elif cleaned.get("text", "").strip():
            cleaned["data"] = cleaned["text"]
        else:
            raise forms.ValidationError("Choose a file or paste its JSON.")
        return cleaned


def check_summary(server: MCPServer, result: CheckResult) -> str:
    if result.ok:
        return (
            f"{server.name}: connected and listed {len(result.tools)} tool(s) in {result.latency_ms:g} ms "
            f"(connect {result.connect_ms:g} ms)."
        )
    return f"{server.name}: {result.error}"


@admin.register(MCPServer)
class MCPServerAdmin(SecretFieldsAdmin, SuperuserOnlyAdmin, admin.ModelAdmin):
    form = MCPServerForm
    secret_fields = ("env", "headers")
    # Few and short columns, so the list fits beside the admin's navigation and filters at 1280 px; scope and
    # approval are among the filters.
    list_display = ("name", "transport", "enabled", "last_status", "latency", "checked", "sign_in")
    list_filter = ("transport", "enabled", "scope", "approval", "last_status", "everyone", "groups")
    filter_horizontal = ("groups",)
    search_fields = ("name", "description", "command", "url")
    readonly_fields = (
        "last_status", "last_error", "last_latency_ms", "last_checked_at", "tool_names", "created_at", "updated_at",
        "sign_in_status",
    )  # fmt: skip
    actions = ("test_connection", "export_json")
    change_form_template = "admin/mcp_servers/mcpserver/change_form.html"
    change_list_template = "admin/mcp_servers/mcpserver/change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "description", "transport", "enabled")}),
        ("stdio", {"fields": ("command", "args", "cwd", "env", "network", "read_paths")}),
        ("HTTP, SSE and WebSocket", {"fields": ("url", "headers")}),
        ("Behaviour", {"fields": ("connect_timeout", "call_timeout", "scope", "allowed_tools", "denied_tools")}),
        ("Approval", {"fields": ("approval", "approval_tools")}),
        ("Who may attach it to their own assistants", {"fields": ("everyone", "groups")}),
        (OAUTH_FIELDSET, {"fields": ("sign_in_status", "oauth_client_id", "oauth_client_secret")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
        (
            "Status",
            {"fields": ("last_status", "last_error", "last_latency_ms", "last_checked_at", "tool_names")},
        ),
    )

    @admin.display(description="Latency", ordering="last_latency_ms")
    def latency(self, obj: MCPServer) -> str:
        return f"{obj.last_latency_ms:.0f} ms" if obj.last_latency_ms is not None else "—"

    @admin.display(description="Checked", ordering="last_checked_at")
    def checked(self, obj: MCPServer) -> str:
        if obj.last_checked_at is None:
            return "never"
        return timezone.localtime(obj.last_checked_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="Asks each user to sign in")
    def sign_in_status(self, obj: MCPServer) -> str:
        oauth = getattr(obj, "oauth", None)
        if oauth is None or not oauth.protected:
            return "Not found to: Test connection finds out (a 401 with a Bearer challenge)."
        how = "registered by Switchboard" if oauth.registered else "entered by an administrator"
        client = f"client {how}" if oauth.client_id else "no client yet (registered at the first sign-in)"
        return f"Yes: authorization server {oauth.issuer}; {client}."

    def get_fieldsets(self, request: HttpRequest, obj: MCPServer | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        # The client's form fields are for superusers; others (view only) see whether it asks for sign-in.
        return [
            (title, {**options, "fields": ["sign_in_status"]}) if title == OAUTH_FIELDSET else (title, options)
            for title, options in fieldsets
        ]

    def save_model(self, request: HttpRequest, obj: MCPServer, form: MCPServerForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        form.oauth_save()

    @admin.display(description="Sign-in", boolean=True)
    def sign_in(self, obj: MCPServer) -> bool:
        """Whether the server asks each user to sign in with OAuth."""
        oauth = getattr(obj, "oauth", None)  # None where no row exists
        return bool(oauth and oauth.protected)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("oauth")

    @admin.display(description="Tools (last check)")
    def tool_names(self, obj: MCPServer) -> str:
        return ", ".join(tool["name"] for tool in obj.last_tools or []) or "—"

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="mcp_servers_mcpserver_import"),
            path(
                "<int:object_id>/check/",
                self.admin_site.admin_view(self.check_view),
                name="mcp_servers_mcpserver_check",
            ),
            *super().get_urls(),
        ]

    def _check(self, request: HttpRequest, server: MCPServer) -> CheckResult:
        # A per-user server is checked as the admin who asks, with their placeholders filled in.
        return async_to_sync(mcp_server_check)(
            server=server, user_id=request.user.pk, username=request.user.get_username()
        )

    @admin.action(description="Test connection (connect and list tools)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset) -> None:
        servers = list(queryset)
        user_id, username = request.user.pk, request.user.get_username()

        async def check_all() -> list[CheckResult]:
            # Side by side: one slow or unreachable server does not hold up the others.
            return await asyncio.gather(
                *(mcp_server_check(server=server, user_id=user_id, username=username) for server in servers)
            )

        for server, result in zip(servers, async_to_sync(check_all)(), strict=True):
            self.message_user(request, check_summary(server, result), messages.SUCCESS if result.ok else messages.ERROR)

    @admin.action(description="Export as mcpServers JSON (secret values left empty)", permissions=["change"])
    def export_json(self, request: HttpRequest, queryset) -> HttpResponse:
        document = config_export(queryset.order_by("name"), include_secrets=False)
        response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="mcp_servers.json"'
        return response

    def check_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        server = get_object_or_404(MCPServer, pk=object_id)
        result = None
        if request.method == "POST":
            result = self._check(request, server)
            server.refresh_from_db()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": server,
            "title": f"Test connection: {server.name}",
            "result": result,
            "tools": [
                {**tool, "schema": json.dumps(tool.get("input_schema") or {}, indent=2)}
                for tool in (result.tools if result is not None else server.last_tools or [])
            ],
        }
        return TemplateResponse(request, "admin/mcp_servers/mcpserver/check.html", context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        # Importing can add stdio servers, which run commands on the host.
        if not request.user.is_superuser:
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Import MCP servers"}
        if request.method == "POST" and "confirm" in request.POST:
            try:
                data = fernet().decrypt(request.POST.get("payload", "").encode(), ttl=PAYLOAD_TTL).decode()
            except InvalidToken:
                raise Http404("This import has expired; upload the file again.") from None
            try:
                plan = config_plan(data)
                created, updated = config_apply(plan, user=request.user)
            except ConfigError as exc:
                self.message_user(request, f"{exc} Nothing was changed.", messages.ERROR)
            else:
                self.message_user(request, f"Imported: {created} created, {updated} updated.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:mcp_servers_mcpserver_changelist"))
        elif request.method == "POST":
            posted = ImportForm(request.POST, request.FILES)
            if not posted.is_valid():
                context["errors"] = [error for errors in posted.errors.values() for error in errors]
            else:
                data = posted.cleaned_data["data"]
                try:
                    plan = config_plan(data)
                except ConfigError as exc:
                    context["errors"] = [str(exc)]
                else:
                    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
                    # The file goes back to the browser only encrypted: it may hold secrets.
                    context.update(plan=plan, payload=fernet().encrypt(text.encode()).decode())
        # Always an empty form: a bound one would echo the pasted file, secrets and all, into the page.
        context["form"] = ImportForm()
        return TemplateResponse(request, "admin/mcp_servers/mcpserver/import.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["check_url"] = reverse("admin:mcp_servers_mcpserver_check", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
