"""Switchboard as an OAuth 2.1 authorization server for its own MCP endpoint, so a desktop MCP client signs in
instead of being given a pasted token.

Clients register themselves (RFC 7591: public clients, no secret); a signed-in user consents; the client
swaps the code for tokens with its PKCE verifier (S256 only). Access and refresh tokens are stored as SHA-256
digests like personal tokens, are good only for `/mcp/` (the resource they were issued for), and are listed
on the user's tokens page, where revoking one ends it and its refresh token. Codes live in the cache for a
minute and are used once.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.audit import audit_record
from core.throttle import token_address_check, token_failure_record

ACCESS_PREFIX = "sbo_"
REFRESH_PREFIX = "sbr_"
CLIENT_PREFIX = "client_"
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_LIFETIME = timedelta(days=30)
CODE_SECONDS = 60
SCOPE = "mcp"
MAX_REDIRECT_URIS = 10
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class OAuthClient(models.Model):
    """An MCP client that registered itself (RFC 7591). Public: it has no secret, PKCE proves it."""

    client_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    redirect_uris = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "OAuth client"

    def __str__(self) -> str:
        return self.name


class OAuthGrant(models.Model):
    """What a user allowed one client: its current access and refresh token, both stored as digests."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_grants")
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="grants")
    resource = models.CharField(max_length=500)
    access_digest = models.CharField(max_length=64, unique=True, editable=False)
    access_expires_at = models.DateTimeField()
    refresh_digest = models.CharField(max_length=64, unique=True, editable=False)
    refresh_expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "OAuth grant"

    def __str__(self) -> str:
        return f"{self.client} for {self.user}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.refresh_expires_at > timezone.now()


class OAuthError(Exception):
    """An OAuth error response: an RFC 6749 error code and a description safe to show."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


# --- Registration ---------------------------------------------------------------------------------------------------


def _redirect_uri_allowed(uri: str) -> bool:
    """https anywhere; http only to this machine (a desktop client's loopback listener, RFC 8252)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or not parts.hostname or len(uri) > 500:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}


def client_register(*, metadata: dict[str, Any]) -> OAuthClient:
    """Register a public client from its RFC 7591 metadata."""
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
        raise OAuthError("invalid_redirect_uri", "Send one to ten redirect_uris.")
    if not all(isinstance(uri, str) and _redirect_uri_allowed(uri) for uri in uris):
        raise OAuthError("invalid_redirect_uri", "Redirect URIs must be https, or http to 127.0.0.1 or localhost.")
    method = metadata.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise OAuthError("invalid_client_metadata", "Only public clients: token_endpoint_auth_method 'none'.")
    grants = metadata.get("grant_types", ["authorization_code", "refresh_token"])
    if not isinstance(grants, list) or not set(grants) <= {"authorization_code", "refresh_token"}:
        raise OAuthError("invalid_client_metadata", "grant_types may be authorization_code and refresh_token.")
    if metadata.get("response_types", ["code"]) != ["code"]:
        raise OAuthError("invalid_client_metadata", "response_types must be ['code'].")
    name = metadata.get("client_name")
    name = name.strip()[:200] if isinstance(name, str) and name.strip() else "MCP client"
    return OAuthClient.objects.create(
        client_id=CLIENT_PREFIX + secrets.token_urlsafe(24), name=name, redirect_uris=list(dict.fromkeys(uris))
    )


def client_metadata(client: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": SCOPE,
    }


# --- Authorization --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    client: OAuthClient
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str


def authorization_request_parse(*, params: Any, resource: str) -> AuthorizationRequest:
    """Check an authorization request; OAuthError `invalid_client` or `invalid_request` must not redirect.

    Errors about the client or its redirect URI are shown to the user (redirecting would hand them to whoever
    named that URI); the rest are the client's to hear, at its redirect URI (see `AuthorizationRedirectError`).
    """
    client = OAuthClient.objects.filter(client_id=str(params.get("client_id", ""))[:64]).first()
    if client is None:
        raise OAuthError("invalid_client", "This application is not registered with Switchboard.")
    redirect_uri = params.get("redirect_uri") or (client.redirect_uris[0] if len(client.redirect_uris) == 1 else "")
    if redirect_uri not in client.redirect_uris:
        raise OAuthError("invalid_request", "The redirect URI is not one this application registered.")
    state = params.get("state")
    fail = AuthorizationRedirectError.maker(redirect_uri, state)
    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "Only the authorization code flow is supported.")
    challenge = params.get("code_challenge") or ""
    if params.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
        raise fail("invalid_request", "PKCE with code_challenge_method S256 is required.")
    asked = params.get("resource")
    if asked and asked.rstrip("/") != resource.rstrip("/"):
        raise fail("invalid_target", "Tokens are issued for this server's MCP endpoint only.")
    scope = params.get("scope")
    if scope and set(scope.split()) - {SCOPE}:
        raise fail("invalid_scope", f"The only scope is '{SCOPE}'.")
    return AuthorizationRequest(
        client=client, redirect_uri=redirect_uri, state=state, code_challenge=challenge, resource=resource
    )


class AuthorizationRedirectError(OAuthError):
    """An error the client hears at its redirect URI."""

    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None) -> None:
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state

    @classmethod
    def maker(cls, redirect_uri: str, state: str | None) -> Any:
        return lambda error, description: cls(error, description, redirect_uri=redirect_uri, state=state)


def _code_key(code: str) -> str:
    return f"switchboard:oauth:code:{_digest(code)}"


def authorization_code_create(*, user: AbstractBaseUser, request: AuthorizationRequest) -> str:
    """The code the user's consent gives the client: good once, for a minute."""
    code = secrets.token_urlsafe(32)
    cache.set(
        _code_key(code),
        {
            "user_id": user.pk,
            "client_id": request.client.client_id,
            "redirect_uri": request.redirect_uri,
            "code_challenge": request.code_challenge,
            "resource": request.resource,
        },
        timeout=CODE_SECONDS,
    )
    return code


# --- Tokens ---------------------------------------------------------------------------------------------------------


def _tokens_issue(grant: OAuthGrant) -> dict[str, Any]:
    """New access and refresh tokens for the grant (the old ones stop working); the token response."""
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    grant.access_digest, grant.access_expires_at = _digest(access), now + ACCESS_LIFETIME
    grant.refresh_digest, grant.refresh_expires_at = _digest(refresh), now + REFRESH_LIFETIME
    grant.save()
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(ACCESS_LIFETIME.total_seconds()),
        "refresh_token": refresh,
        "scope": SCOPE,
    }


def _client(client_id: Any) -> OAuthClient:
    client = OAuthClient.objects.filter(client_id=str(client_id or "")[:64]).first()
    if client is None:
        raise OAuthError("invalid_client", "Unknown client_id.", status=401)
    return client


def token_exchange(*, params: Any) -> dict[str, Any]:
    """The token endpoint: an authorization code (with its PKCE verifier) or a refresh token for new tokens."""
    grant_type = params.get("grant_type")
    if grant_type == "authorization_code":
        return _code_exchange(params)
    if grant_type == "refresh_token":
        return _refresh_exchange(params)
    raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token.")


def _code_exchange(params: Any) -> dict[str, Any]:
    client = _client(params.get("client_id"))
    code = str(params.get("code") or "")
    key = _code_key(code)
    issued = cache.get(key)
    cache.delete(key)  # used once, whatever happens next
    if not code or not issued or issued["client_id"] != client.client_id:
        raise OAuthError("invalid_grant", "The code is unknown, used or expired.")
    if params.get("redirect_uri", issued["redirect_uri"]) != issued["redirect_uri"]:
        raise OAuthError("invalid_grant", "The redirect_uri differs from the authorization request's.")
    verifier = str(params.get("code_verifier") or "")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(computed, issued["code_challenge"]):
        raise OAuthError("invalid_grant", "The code_verifier does not match the code_challenge.")
    user_model = OAuthGrant._meta.get_field("user").related_model
    user = user_model.objects.filter(pk=issued["user_id"], is_active=True).first()
    if user is None:
        raise OAuthError("invalid_grant", "The user is no longer active.")
    grant = OAuthGrant(user=user, client=client, resource=issued["resource"])
    response = _tokens_issue(grant)
    audit_record(user=user, action="created", target=grant)
    return response


def _refresh_exchange(params: Any) -> dict[str, Any]:
    client = _client(params.get("client_id"))
    raw = str(params.get("refresh_token") or "")
    grant = (
        OAuthGrant.objects.select_related("user")
        .filter(refresh_digest=_digest(raw), client=client, revoked_at__isnull=True)
        .filter(refresh_expires_at__gt=timezone.now())
        .first()
    )
    if not raw.startswith(REFRESH_PREFIX) or grant is None or not grant.user.is_active:
        raise OAuthError("invalid_grant", "The refresh token is unknown, revoked or expired.")
    return _tokens_issue(grant)


def access_token_authenticate(raw: str | None, *, resource: str, address: str | None = None) -> Any:
    """The active user an access token for `resource` belongs to, or None; failures count per address."""
    if address is not None:
        token_address_check(address=address)
    user = _access_user(raw, resource)
    if user is None and raw and address is not None:
        token_failure_record(address=address)
    return user


def _access_user(raw: str | None, resource: str) -> Any:
    if not raw or not raw.startswith(ACCESS_PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    grant = (
        OAuthGrant.objects.select_related("user")
        .filter(access_digest=_digest(raw), revoked_at__isnull=True, access_expires_at__gt=now)
        .filter(Q(resource=resource) | Q(resource=resource.rstrip("/")))
        .first()
    )
    if grant is None or not grant.user.is_active:
        return None
    if grant.last_used_at is None or now - grant.last_used_at > LAST_USED_PRECISION:
        OAuthGrant.objects.filter(pk=grant.pk).update(last_used_at=now)
    return grant.user


def grant_revoke(*, user: AbstractBaseUser, grant_id: int) -> OAuthGrant:
    """Revoke one of the user's grants, its access and refresh token both; another user's is DoesNotExist."""
    grant = OAuthGrant.objects.get(pk=grant_id, user=user)
    if grant.revoked_at is None:
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
        audit_record(user=user, action="changed", target=grant, details={"fields": ["revoked_at"]})
    return grant
