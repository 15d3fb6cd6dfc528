"""OpenID Connect single sign-on beside local passwords (mozilla-django-oidc), configured from the environment.

The provider's endpoints come from its discovery document (`<OIDC_ISSUER>/.well-known/openid-configuration`),
read once per process when first needed. A first sign-in creates the user; every sign-in syncs their Django groups
from the groups claim: groups the claim adds are joined (created if need be), groups an earlier sign-in added and
the claim no longer names are left, and groups an admin gave by hand are kept. Users are matched by the provider's
subject (`sub`), never by e-mail address, which another account at the provider could claim.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from core.models import ExternalIdentity

logger = logging.getLogger(__name__)

# Settings mozilla-django-oidc reads that the discovery document answers.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
_discovery: dict[str, Any] | None = None
_discovery_lock = threading.Lock()


def oidc_enabled() -> bool:
    return bool(getattr(settings, "OIDC_ISSUER", ""))


def oidc_discovery() -> dict[str, Any]:
    """The provider's discovery document, fetched once per process."""
    global _discovery
    with _discovery_lock:
        if _discovery is None:
            issuer = settings.OIDC_ISSUER.rstrip("/")
            response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
            if document.get("issuer", "").rstrip("/") != issuer:
                raise ImproperlyConfigured(f"The OpenID provider says its issuer is {document.get('issuer')!r}.")
            _discovery = document
        return _discovery


def oidc_discovery_forget() -> None:
    global _discovery
    with _discovery_lock:
        _discovery = None


def oidc_setting(attr: str, *args: Any) -> Any:
    """A mozilla-django-oidc setting: set explicitly, or else from the provider's discovery document."""
    if attr in DISCOVERED and not getattr(settings, attr, None):
        value = oidc_discovery().get(DISCOVERED[attr])
        if value:
            return value
    return import_from_settings(attr, *args)


class OIDCBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(
            external_identity__issuer=settings.OIDC_ISSUER, external_identity__subject=str(claims.get("sub"))
        )

    def describe_user_by_claims(self, claims: dict[str, Any]) -> str:
        return f"subject {claims.get('sub')}"

    def get_username(self, claims: dict[str, Any]) -> str:
        username = str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub") or "")[:150]
        if not username:
            raise SuspiciousOperation("The provider gave no username.")
        return username

    @transaction.atomic
    def create_user(self, claims: dict[str, Any]) -> Any:
        username = self.get_username(claims)
        if self.UserModel.objects.filter(username=username).exists():
            # A local account of that name is not taken over by whoever the provider calls the same.
            raise SuspiciousOperation(f"A local user named {username!r} exists; an admin must link it.")
        user = self.UserModel.objects.create_user(username, email=claims.get("email") or "")
        user.set_unusable_password()
        user.save(update_fields=["password"])
        ExternalIdentity.objects.create(user=user, issuer=settings.OIDC_ISSUER, subject=str(claims["sub"]))
        return self.update_user(user, claims)

    @transaction.atomic
    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        email = claims.get("email") or ""
        if email and email != user.email:
            user.email = email
            user.save(update_fields=["email"])
        groups_sync(user=user, claimed=claims.get(settings.OIDC_GROUPS_CLAIM))
        return user


def groups_sync(*, user: Any, claimed: Any) -> list[str]:
    """Make the user's provider-given groups those of the claim; return the names they now have from it."""
    identity = ExternalIdentity.objects.select_for_update().get(user=user)
    if isinstance(claimed, str):
        claimed = [claimed]
    names = sorted({str(name)[:150] for name in claimed or [] if str(name).strip()})
    wanted = [Group.objects.get_or_create(name=name)[0] for name in names]
    dropped = set(identity.synced_groups) - set(names)
    if dropped:
        user.groups.remove(*Group.objects.filter(name__in=dropped))
    user.groups.add(*wanted)
    identity.synced_groups = names
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["synced_groups", "last_sign_in_at"])
    return names


class OIDCStartView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)


class OIDCCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)
