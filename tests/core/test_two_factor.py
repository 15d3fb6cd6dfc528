"""Optional two-factor sign-in (TOTP): set up on the account page, asked for at login and the admin's, enforceable
for staff."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    # A code from a later time step: django-otp refuses a code used once already, as an app would show anew.
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def _login(client: Client, user, code: str = "", path: str = "/accounts/login/"):
    data = {"username": user.username, "password": f"{user.username}-password-1"}
    if code:
        data["otp_token"] = code
    return client.post(path, data)


def _turn_on(user) -> TOTPDevice:
    client = Client()
    client.force_login(user)
    client.post("/settings/two-factor", {"action": "begin"})
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    page = client.get("/settings/").content.decode()
    assert "otpauth" in page
    client.post("/settings/two-factor", {"action": "confirm", "token": _code(device)})
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_it_logs_in_without_a_code_while_two_factor_is_off(alice):
    assert _login(Client(), alice).status_code == 302


def test_it_asks_for_the_code_once_two_factor_is_on(alice):
    device = _turn_on(alice)
    client = Client()
    missing = _login(client, alice)
    assert missing.status_code == 200 and b"Enter the code from your authenticator app" in missing.content
    wrong = _login(client, alice, "000000" if _code(device, steps_ahead=1) != "000000" else "111111")
    assert wrong.status_code == 200 and b"not right" in wrong.content
    throttled = _login(client, alice, _code(device, steps_ahead=1))
    assert throttled.status_code == 200 and b"Too many wrong codes" in throttled.content
    # The wait after one wrong code is over.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(seconds=10))
    assert _login(client, alice, _code(device, steps_ahead=1)).status_code == 302
    assert client.get("/").status_code == 200


def test_it_refuses_a_wrong_code_when_confirming(alice):
    client = Client()
    client.force_login(alice)
    client.post("/settings/two-factor", {"action": "begin"})
    client.post("/settings/two-factor", {"action": "confirm", "token": "12"})
    assert not TOTPDevice.objects.filter(user=alice, confirmed=True).exists()


def test_it_turns_two_factor_off_with_a_current_code(alice):
    device = _turn_on(alice)
    client = Client()
    client.force_login(alice)
    client.post("/settings/two-factor", {"action": "disable", "token": _code(device, steps_ahead=1)})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert _login(Client(), alice).status_code == 302


def test_it_asks_staff_for_the_code_at_the_admin_login_too(django_user_model):
    root = django_user_model.objects.create_superuser("root", password="root-password-1")
    device = _turn_on(root)
    client = Client()
    assert _login(client, root, path="/admin/login/").status_code == 200
    assert _login(client, root, _code(device, steps_ahead=1), path="/admin/login/").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_it_keeps_unverified_staff_out_of_the_admin_when_required(django_user_model, settings):
    settings.OTP_REQUIRED_FOR_STAFF = True
    root = django_user_model.objects.create_superuser("root", password="root-password-1")
    client = Client()
    assert _login(client, root).status_code == 302  # the app itself still opens
    assert client.get("/admin/").status_code == 302  # the admin does not, without a verified session
    device = _turn_on(root)
    verified = Client()
    assert _login(verified, root, _code(device, steps_ahead=1), path="/admin/login/").status_code == 302
    assert verified.get("/admin/").status_code == 200
