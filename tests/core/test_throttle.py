"""Red-team finding 3: sign-in is throttled per account and per address, on the login page, the admin and tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from core.tokens import token_create

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _login(client: Client, username: str, password: str, *, path: str = "/accounts/login/", address: str = ""):
    extra = {"REMOTE_ADDR": address} if address else {}
    return client.post(path, {"username": username, "password": password}, **extra)


def _signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def test_it_refuses_the_attempt_after_the_limit_and_the_right_password_during_lockout(client, alice):
    for _ in range(LIMIT - 1):
        assert _login(client, "alice", "wrong").status_code == 200  # the form again, with its error
    locked = _login(client, "alice", "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Signing in is locked" in page and "Try again in 15 minutes" in page
    right = _login(client, "alice", "alice-password-1")
    assert right.status_code == 429 and not _signed_in(client)


def test_it_lifts_the_lockout_after_the_configured_time(client, alice):
    for _ in range(LIMIT):
        _login(client, "alice", "wrong")
    assert _login(client, "alice", "alice-password-1").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login(client, "alice", "alice-password-1").status_code == 302
    assert _signed_in(client)


def test_it_locks_an_account_whatever_address_the_guesses_come_from(client, alice):
    for index in range(LIMIT):
        _login(Client(), "alice", "wrong", address=f"192.0.2.{index + 1}")
    assert _login(client, "alice", "alice-password-1", address="198.51.100.7").status_code == 429


def test_it_locks_an_address_that_tries_many_accounts(client, alice, bob):
    for name in ("carol", "dave", "erin"):
        _login(client, name, "wrong", address="203.0.113.5")
    assert _login(client, "bob", "bob-password-1", address="203.0.113.5").status_code == 429
    # Another address is not held up by it.
    assert _login(Client(), "bob", "bob-password-1", address="203.0.113.6").status_code == 302


def test_it_throttles_the_admin_login_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", password="root-password-1")
    for _ in range(LIMIT):
        _login(client, "root", "wrong", path="/admin/login/")
    response = _login(client, "root", "root-password-1", path="/admin/login/")
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302


def test_it_tells_a_permanently_locked_user_to_ask_an_administrator(client, alice, settings):
    settings.AXES_COOLOFF_TIME = None
    for _ in range(LIMIT):
        _login(client, "alice", "wrong")
    page = _login(client, "alice", "alice-password-1").content.decode()
    assert "Ask an administrator to unlock it" in page


def test_it_records_the_lockout_in_the_audit_log(client, alice):
    for _ in range(LIMIT):
        _login(client, "alice", "wrong", address="192.0.2.9")
    (entry,) = AuditEntry.objects.filter(action=AuditEntry.Action.LOCKED_OUT)
    assert entry.target == "alice" and entry.details == {"address": "192.0.2.9", "via": "password"}


def test_it_does_not_forget_guesses_when_the_guesser_logs_into_an_account_of_their_own(client, alice, bob):
    for _ in range(LIMIT - 1):
        _login(Client(), "alice", "wrong", address="203.0.113.9")
    assert _login(Client(), "bob", "bob-password-1", address="203.0.113.9").status_code == 302
    _login(Client(), "alice", "wrong", address="203.0.113.9")
    assert _login(client, "alice", "alice-password-1").status_code == 429


# --- API tokens -------------------------------------------------------------------------------------------------


@pytest.fixture
def token_limit(settings):
    from django.core.cache import cache

    cache.clear()
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "TOKEN_FAILURE_LIMIT": LIMIT}
    yield
    cache.clear()


def _api(token: str, address: str = "192.0.2.50"):
    return Client().get("/v1/assistants", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=address)


def test_it_refuses_an_address_that_sent_too_many_bad_tokens(alice, token_limit):
    _, good = token_create(user=alice, name="t")
    for index in range(LIMIT):
        assert _api(f"sb_wrong{index}").status_code == 401
    refused = _api(good)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many failed API token uses" in refused.json()["error"]["message"]
    assert _api(good, address="192.0.2.51").status_code == 200
    (entry,) = AuditEntry.objects.filter(action=AuditEntry.Action.LOCKED_OUT)
    assert entry.target_type == "address" and entry.details["via"] == "token"


def test_it_does_not_count_good_tokens_as_failures(alice, token_limit):
    _, good = token_create(user=alice, name="t")
    for _ in range(LIMIT + 2):
        assert _api(good).status_code == 200


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"REMOTE_ADDR": "10.0.0.7"}, "10.0.0.7"),
        ({"REMOTE_ADDR": "::FFFF:10.0.0.7"}, "::ffff:a00:7"),
        ({}, ""),  # a test client's or an in-process request
        ({"REMOTE_ADDR": "unix:/run/daphne.sock"}, ""),
    ],
)
def test_the_client_address_is_an_ip_address_or_empty(rf, meta, expected):
    from core.throttle import client_address

    request = rf.get("/")
    request.META.pop("REMOTE_ADDR", None)
    request.META.update(meta)
    assert client_address(request) == expected


def test_a_login_without_an_address_is_recorded(alice):
    # Django's force_login sends a request with no REMOTE_ADDR; the access log's address column takes no "unknown".
    from axes.models import AccessLog

    Client().force_login(alice)
    assert AccessLog.objects.filter(username="alice").exists()


def test_a_proxy_address_that_is_not_an_ip_counts_as_none(rf, settings):
    from core.throttle import client_address

    settings.PROXY_HOPS = 1
    request = rf.get("/", HTTP_X_FORWARDED_FOR="1.2.3.4, not-an-address")
    assert client_address(request) == ""


async def _mcp_post(token: str, address: str = "192.0.2.60") -> tuple[int, dict[bytes, bytes]]:
    """One POST to the Streamable HTTP endpoint, answered before the body is read (authentication)."""
    from chat.mcp_http import mcp_http_app

    scope = {
        "type": "http", "method": "POST", "path": "/mcp/", "client": (address, 5555),
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await mcp_http_app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"])


@pytest.mark.django_db(transaction=True)
async def test_it_counts_bad_tokens_on_the_mcp_endpoint_per_address(alice, token_limit):
    from asgiref.sync import sync_to_async

    _, good = await sync_to_async(token_create)(user=alice, name="t")
    for index in range(LIMIT):
        assert (await _mcp_post(f"sb_wrong{index}"))[0] == 401
    status, headers = await _mcp_post(good)
    assert status == 429 and int(headers[b"retry-after"]) > 0
    # The /v1/ API shares the count: one limit per address, whatever the interface.
    assert await sync_to_async(lambda: _api(good, address="192.0.2.60").status_code)() == 429
    assert (await _mcp_post(good, address="192.0.2.61"))[0] != 429
