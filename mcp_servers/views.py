"""The staff page of MCP servers, for those who may view them: state, live connections here, and tools; and
each user's page of their own remote servers."""

from __future__ import annotations

import json
from collections import Counter

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.confirm import confirm_page
from core.errors import ServiceError
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from mcp_servers.services import (
    OWN_TRANSPORTS,
    mcp_server_check,
    mcp_server_own_allowed,
    mcp_server_own_create,
    mcp_server_own_delete,
)


async def _viewer(request: HttpRequest) -> HttpResponse | None:
    """A login redirect for visitors, a 404 for anyone without permission to view MCP servers, None otherwise.

    Being staff is not enough: the page shows every server's errors (hosts, paths) and tool schemas, which only
    those an administrator let see MCP servers may read.
    """
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (user.is_staff and await user.ahas_perm("mcp_servers.view_mcpserver")):
        raise Http404
    return None


# Async, so the pool it reports on is the one this process's runs use (it belongs to the event loop).
@require_GET
async def server_list(request: HttpRequest) -> HttpResponse:
    if (refused := await _viewer(request)) is not None:
        return refused
    servers = [server async for server in MCPServer.objects.order_by("name")]
    stats = get_pool().stats()
    live = Counter(d["server_id"] for d in stats["details"] if d["connected"])
    rows = [
        {
            "server": server,
            "live": live.get(server.pk, 0),
            "tools": [
                {**tool, "schema": json.dumps(tool.get("input_schema") or {}, indent=2)}
                for tool in server.last_tools or []
            ],
        }
        for server in servers
    ]
    context = {"rows": rows, "connections": stats["connections"]}
    return await sync_to_async(render)(request, "mcp_servers/server_list.html", context)


@require_POST
async def server_check(request: HttpRequest, pk: int) -> HttpResponse:
    if (refused := await _viewer(request)) is not None:
        return refused
    user = await request.auser()
    if not user.is_superuser:
        raise PermissionDenied
    try:
        server = await MCPServer.objects.aget(pk=pk)
    except MCPServer.DoesNotExist:
        raise Http404 from None
    result = await mcp_server_check(server=server, user_id=user.pk, username=user.get_username())
    if result.ok:
        text = f"{server.name}: connected, {len(result.tools)} tool(s), {result.latency_ms:g} ms."
        await sync_to_async(messages.success)(request, text)
    else:
        await sync_to_async(messages.error)(request, f"{server.name}: {result.error}")
    return HttpResponseRedirect(reverse("mcp_servers:server_list") + f"#server-{server.pk}")


# --- A user's own remote servers --------------------------------------------------------------------------------


class OwnServerForm(forms.Form):
    name = forms.CharField(max_length=40, help_text="Letters, digits and dashes; your username is put before it.")
    transport = forms.ChoiceField(
        choices=[(kind.value, kind.label) for kind in OWN_TRANSPORTS], initial=MCPServer.Transport.STREAMABLE_HTTP
    )
    url = forms.CharField(label="URL", max_length=500, help_text="http(s):// for HTTP and SSE, ws(s):// for WebSocket.")
    authorization = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Sent as the Authorization header (e.g. Bearer …); stored encrypted, never shown again.",
    )
    description = forms.CharField(required=False, max_length=500)


@login_required
def own_server_list(request: HttpRequest) -> HttpResponse:
    """The user's own remote MCP servers, and a form to add one where an administrator allows it."""
    allowed = mcp_server_own_allowed(user=request.user)
    form = OwnServerForm(request.POST or None)
    if request.method == "POST":
        if not allowed:
            raise PermissionDenied("Your administrator has not let you add MCP servers.")
        if form.is_valid():
            try:
                server = mcp_server_own_create(user=request.user, **form.cleaned_data)
            except ServiceError as exc:
                for field_name, errors in exc.fields.items():
                    for error in errors:
                        form.add_error(field_name if field_name in form.fields else None, error)
            else:
                messages.success(request, f"Added {server.name}: attach it to one of your assistants to use it.")
                return redirect("mcp_servers:own_server_list")
    servers = MCPServer.objects.filter(owner=request.user)
    return render(request, "mcp_servers/own_server_list.html", {"allowed": allowed, "form": form, "servers": servers})


@login_required
def own_server_delete(request: HttpRequest, pk: int) -> HttpResponse:
    server = MCPServer.objects.filter(pk=pk, owner=request.user).first()
    if server is None:
        raise Http404
    if request.method == "POST":
        mcp_server_own_delete(user=request.user, server_id=pk)
        messages.success(request, f"Removed {server.name}.")
        return redirect("mcp_servers:own_server_list")
    return confirm_page(
        request,
        title=f"Remove {server.name}?",
        text="Your assistants lose its tools; conversations keep what it answered.",
        button="Remove",
        cancel=reverse("mcp_servers:own_server_list"),
    )
