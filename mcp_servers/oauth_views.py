"""Pages where each user connects their own account to the MCP servers that want them to sign in, and revokes it.

Which servers a user may use is decided above this app (by their assistants and grants); the URL configuration
passes that rule in as `usable`, so a server the user may not use is a 404 here too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from core.confirm import confirm_page
from core.middleware import csp_posting_to
from mcp_servers.models import MCPServer, OAuthAccount
from mcp_servers.oauth import (
    OAUTH_TRANSPORTS,
    PENDING_KEY,
    OAuthError,
    oauth_account_revoke,
    oauth_authorization_finish,
    oauth_authorization_origin,
    oauth_authorization_start,
)

Usable = Callable[..., QuerySet[MCPServer]]


def _safe_next(request: HttpRequest, value: str) -> str:
    allowed = url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}, require_https=False)
    return value if value and allowed else ""


@never_cache
@login_required
@require_GET
def connection_list(request: HttpRequest, *, usable: Usable) -> HttpResponse:
    """The servers that want the user to sign in: connected ones with Revoke, the others with Connect."""
    servers = usable(user=request.user).filter(transport__in=OAUTH_TRANSPORTS, oauth__discovered_at__isnull=False)
    accounts = {a.server_id: a for a in OAuthAccount.objects.filter(user=request.user).select_related("server")}
    rows = [{"server": server, "account": accounts.pop(server.pk, None)} for server in servers]
    # Connected earlier to a server no longer offered to them: still theirs to revoke.
    rows += [{"server": account.server, "account": account} for account in accounts.values()]
    return render(request, "mcp_servers/oauth_connections.html", {"rows": rows})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest, pk: int, *, usable: Usable) -> HttpResponse:
    """Ask before sending the user away (GET); then begin the authorization (POST)."""
    server = usable(user=request.user).filter(pk=pk, transport__in=OAUTH_TRANSPORTS).first()
    if server is None:
        raise Http404
    # Back where the user came from once connected (the chat whose answer linked here), unless told otherwise.
    came_from = request.headers.get("Referer", "") if request.method == "GET" else ""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next") or came_from)
    if request.method == "GET":
        try:
            origin = async_to_sync(oauth_authorization_origin)(server=server)
        except OAuthError:
            origin = ""  # pressing Connect says what is wrong
        connected = OAuthAccount.objects.filter(server=server, user=request.user).exists()
        host = urlsplit(origin or server.url).hostname or server.url
        context = {"server": server, "host": host, "connected": connected, "next": next_url}
        response = render(request, "mcp_servers/oauth_connect.html", context)
        if origin:
            # The form posts here and is redirected on to the authorization server, which the page must allow.
            response["Content-Security-Policy"] = csp_posting_to(origin)
        return response
    try:
        url, pending = async_to_sync(oauth_authorization_start)(
            user_id=request.user.pk,
            server=server,
            redirect_uri=request.build_absolute_uri(reverse("mcp_oauth:callback")),
            pending=request.session.get(PENDING_KEY, {}),
            next_url=next_url,
        )
    except OAuthError as exc:
        messages.error(request, str(exc))
        return redirect("mcp_oauth:connection_list")
    request.session[PENDING_KEY] = pending
    return HttpResponseRedirect(url)


@never_cache
@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Where the authorization server sends the user back: only a state this user's session began is accepted,
    and each state once."""
    pending: dict[str, Any] = request.session.get(PENDING_KEY, {})
    state = request.GET.get("state", "")
    begun = pending.pop(state, None)
    request.session[PENDING_KEY] = pending
    try:
        account = async_to_sync(oauth_authorization_finish)(
            user_id=request.user.pk, pending={state: begun} if begun else {}, query=request.GET.dict()
        )
    except OAuthError as exc:
        messages.error(request, str(exc))
        return redirect("mcp_oauth:connection_list")
    server = MCPServer.objects.get(pk=account.server_id)
    messages.success(request, f"Connected your account to {server.name}.")
    return redirect(begun.get("next") or "mcp_oauth:connection_list")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    account = OAuthAccount.objects.filter(server_id=pk, user=request.user).select_related("server").first()
    if account is None:
        raise Http404
    if request.method == "GET":
        return confirm_page(
            request,
            title=f"Disconnect {account.server.name}?",
            text="Switchboard forgets your tokens for it (and asks its authorization server to revoke them); "
            "your assistants cannot use its tools until you connect again.",
            button="Revoke",
            cancel=reverse("mcp_oauth:connection_list"),
        )
    server = async_to_sync(oauth_account_revoke)(user_id=request.user.pk, account_id=account.pk)
    messages.success(request, f"Disconnected {server.name}: its tokens are deleted.")
    return redirect("mcp_oauth:connection_list")


def urls(*, usable: Usable) -> tuple[list[URLPattern], str]:
    """The URL patterns, given the rule that says which MCP servers a user may use."""
    return [
        path("", partial(connection_list, usable=usable), name="connection_list"),
        path("<int:pk>/connect/", partial(connect, usable=usable), name="connect"),
        path("callback/", callback, name="callback"),
        path("<int:pk>/revoke/", revoke, name="revoke"),
    ], "mcp_oauth"
