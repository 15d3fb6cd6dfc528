"""Optional two-factor sign-in for local accounts (TOTP, django-otp), enforceable for staff.

A user with a confirmed authenticator app enters its code beside the password, on the login page and the admin's;
OTP_REQUIRED_FOR_STAFF keeps staff without a verified session out of the admin. Accounts that sign in through
single sign-on leave their second factor to the identity provider.
"""

from __future__ import annotations

from typing import Any

import django_otp
from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.audit import audit_record
from core.errors import ServiceError
from core.models import AuditEntry


def totp_device(*, user: AbstractBaseUser, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("-pk").first()


def totp_begin(*, user: AbstractBaseUser) -> TOTPDevice:
    """A new, unconfirmed authenticator for the user (replacing one not confirmed yet)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_confirm(*, request: HttpRequest, user: AbstractBaseUser, token: str) -> TOTPDevice:
    """Confirm the pending authenticator with a code from it; this session counts as verified from now on."""
    device = totp_device(user=user, confirmed=False)
    if device is None or not device.verify_token((token or "").strip()):
        raise ServiceError.invalid({"token": ["That code is not right: enter the current one from your app."]})
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    django_otp.login(request, device)
    audit_record(user=user, action=AuditEntry.Action.CHANGED, target=user, target_type="user",
                 details={"fields": ["two_factor"], "enabled": True})  # fmt: skip
    return device


def totp_disable(*, user: AbstractBaseUser, token: str) -> None:
    """Turn two-factor sign-in off, proven with a current code."""
    device = totp_device(user=user)
    if device is None or not device.verify_token((token or "").strip()):
        raise ServiceError.invalid({"token": ["That code is not right: enter the current one from your app."]})
    TOTPDevice.objects.filter(user=user).delete()
    audit_record(user=user, action=AuditEntry.Action.CHANGED, target=user, target_type="user",
                 details={"fields": ["two_factor"], "enabled": False})  # fmt: skip


class TOTPLoginMixin:
    """A login form that asks a user with an authenticator for its code, beside the password."""

    otp_token = forms.CharField(
        required=False,
        label="Authentication code",
        help_text="Only if you turned on two-factor sign-in.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        device = totp_device(user=user) if user is not None else None
        if device is None:
            return cleaned
        token = (cleaned.get("otp_token") or "").strip()
        if not token:
            raise forms.ValidationError("Enter the code from your authenticator app.", code="token_required")
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            # django-otp waits longer after each wrong code (OTP_TOTP_THROTTLE_FACTOR): guessing stays slow.
            raise forms.ValidationError("Too many wrong codes: wait a few seconds and try again.", code="throttled")
        if not device.verify_token(token):
            raise forms.ValidationError("That authentication code is not right.", code="invalid_token")
        # django-otp marks the session verified when the login that follows sees this.
        user.otp_device = device
        return cleaned


class LoginForm(TOTPLoginMixin, AuthenticationForm):
    otp_token = TOTPLoginMixin.otp_token


class AdminLoginForm(TOTPLoginMixin, AdminAuthenticationForm):
    otp_token = TOTPLoginMixin.otp_token


class SwitchboardAdminSite(AdminSite):
    """The admin, with the two-factor login form; with OTP_REQUIRED_FOR_STAFF, only for verified sessions."""

    login_form = AdminLoginForm
    site_header = site_title = index_title = "Switchboard administration"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        if not settings.OTP_REQUIRED_FOR_STAFF:
            return True
        is_verified = getattr(request.user, "is_verified", None)
        return bool(is_verified and is_verified())
