"""The OAuth endpoints of Switchboard's authorization server for `/mcp/`: metadata (RFC 9728, RFC 8414),
dynamic client registration (RFC 7591), the consent page, the token endpoint, and revoking a grant."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import oauth_server
from core.api import BODY_MAX_BYTES
from core.confirm import confirm_page
from core.middleware import csp_posting_to
from core.oauth_server import AuthorizationRedirectError, OAuthError, OAuthGrant
from core.ratelimit import RateLimited, rate_limit_hit
from core.throttle import client_address

MCP_PATH = "/mcp/"


def _base(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def mcp_resource(request: HttpRequest) -> str:
    """The protected resource: this site's MCP endpoint."""
    return _base(request) + MCP_PATH


def resource_metadata_url(base: str) -> str:
    """Where the MCP endpoint's protected resource metadata is (RFC 9728 §3.1: the path after the well-known)."""
    return base + "/.well-known/oauth-protected-resource" + MCP_PATH.rstrip("/")


def _json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _error(exc: OAuthError) -> JsonResponse:
    return _json({"error": exc.error, "error_description": exc.description}, status=exc.status)


@require_GET
def protected_resource_metadata(request: HttpRequest) -> JsonResponse:
    return _json(
        {
            "resource": mcp_resource(request),
            "authorization_servers": [_base(request)],
            "bearer_methods_supported": ["header"],
            "scopes_supported": [oauth_server.SCOPE],
            "resource_name": "Switchboard",
        }
    )


@require_GET
def authorization_server_metadata(request: HttpRequest) -> JsonResponse:
    base = _base(request)
    return _json(
        {
            "issuer": base,
            "authorization_endpoint": base + reverse("oauth_authorize"),
            "token_endpoint": base + reverse("oauth_token"),
            "registration_endpoint": base + reverse("oauth_register"),
            "scopes_supported": [oauth_server.SCOPE],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
        }
    )


@csrf_exempt  # a program's JSON request, not a browser form
@require_POST
def register(request: HttpRequest) -> JsonResponse:
    if len(request.body) > BODY_MAX_BYTES:
        return _error(OAuthError("invalid_client_metadata", "The request is too large."))
    try:
        # Anyone may register, so each address may only register so many clients a minute.
        address = int(hashlib.sha256(client_address(request).encode()).hexdigest()[:15], 16)
        limit = settings.SWITCHBOARD["TOKEN_FAILURE_LIMIT"]
        rate_limit_hit(scope="oauth_register", user_id=address, limit=limit, what="client registrations")
    except RateLimited as exc:
        response = _error(OAuthError("slow_down", str(exc), status=429))
        response["Retry-After"] = str(exc.retry_after)
        return response
    try:
        metadata = json.loads(request.body)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        return _error(OAuthError("invalid_client_metadata", "Send the client's metadata as a JSON object."))
    try:
        client = oauth_server.client_register(metadata=metadata)
    except OAuthError as exc:
        return _error(exc)
    return _json(oauth_server.client_metadata(client), status=201)


def _to_client(redirect_uri: str, values: dict[str, str | None]) -> HttpResponseRedirect:
    query = urlencode({key: value for key, value in values.items() if value is not None})
    separator = "&" if "?" in redirect_uri else "?"
    response = HttpResponseRedirect(redirect_uri + separator + query)
    response.allowed_schemes = ["http", "https"]
    return response


@login_required
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """Ask the signed-in user whether the client may use Switchboard's MCP endpoint as them."""
    params = request.POST if request.method == "POST" else request.GET
    try:
        asked = oauth_server.authorization_request_parse(params=params, resource=mcp_resource(request))
    except AuthorizationRedirectError as exc:
        return _to_client(
            exc.redirect_uri, {"error": exc.error, "error_description": exc.description, "state": exc.state}
        )
    except OAuthError as exc:
        return render(request, "core/oauth_consent.html", {"error": exc.description}, status=400)
    if request.method == "GET":
        response = render(request, "core/oauth_consent.html", {"asked": asked, "params": params.items()})
        # Either answer redirects the browser on to the client (https, or a loopback port), which the page must allow.
        target = urlsplit(asked.redirect_uri)
        response["Content-Security-Policy"] = csp_posting_to(f"{target.scheme}://{target.netloc}")
        return response
    issuer = _base(request)
    if request.POST.get("decision") != "allow":
        return _to_client(
            asked.redirect_uri,
            {"error": "access_denied", "error_description": "The user said no.", "state": asked.state, "iss": issuer},
        )
    code = oauth_server.authorization_code_create(user=request.user, request=asked)
    return _to_client(asked.redirect_uri, {"code": code, "state": asked.state, "iss": issuer})


@csrf_exempt  # a program's form post, authenticated by its code verifier or refresh token
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    try:
        return _json(oauth_server.token_exchange(params=request.POST))
    except OAuthError as exc:
        return _error(exc)


@login_required
@require_http_methods(["GET", "POST"])
def grant_revoke_view(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = get_object_or_404(OAuthGrant.objects.select_related("client"), pk=grant_id, user=request.user)
    if request.method == "POST":
        oauth_server.grant_revoke(user=request.user, grant_id=grant.pk)
        messages.success(request, f"Signed out {grant.client.name}.")
        return redirect("core:token_list")
    return confirm_page(
        request,
        title=f"Sign out “{grant.client.name}”?",
        text="It stops reaching Switchboard's MCP endpoint as you at once; to use it again, sign in from it again.",
        button="Sign out",
        cancel=reverse("core:token_list"),
    )


def urls() -> list[Any]:
    return [
        path(".well-known/oauth-protected-resource", protected_resource_metadata),
        path(".well-known/oauth-protected-resource/mcp", protected_resource_metadata, name="oauth_resource_metadata"),
        path(".well-known/oauth-protected-resource/mcp/", protected_resource_metadata),
        path(".well-known/oauth-authorization-server", authorization_server_metadata, name="oauth_metadata"),
        path("oauth/register", register, name="oauth_register"),
        path("oauth/authorize", authorize, name="oauth_authorize"),
        path("oauth/token", token, name="oauth_token"),
        path("settings/tokens/oauth/<int:grant_id>/revoke", grant_revoke_view, name="oauth_grant_revoke"),
    ]
