"""The staff page of MCP servers, for those who may view them: state, live connections here, and tools."""

from __future__ import annotations

import json
from collections import Counter

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from mcp_servers.services import mcp_server_check


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
