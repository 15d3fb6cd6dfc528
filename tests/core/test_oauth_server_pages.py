"""The pages and endpoints of Switchboard's OAuth server for `/mcp/`, through the test client, from both sides."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from core.oauth_server import OAuthGrant, access_token_authenticate
from core.tokens import token_create

pytestmark = pytest.mark.django_db

REDIRECT_URI = "http://127.0.0.1:9999/callback"
RESOURCE = "http://testserver/mcp/"
VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


def _register(client: Client, **metadata) -> dict:
    body = {"client_name": "Desk", "redirect_uris": [REDIRECT_URI], **metadata}
    response = client.post(reverse("oauth_register"), json.dumps(body), content_type="application/json")
    return {"status": response.status_code, **response.json()}


def _authorize_params(registered: str, **extra) -> dict:
    return {
        "response_type": "code",
        "client_id": registered,
        "redirect_uri": REDIRECT_URI,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "xyz",
        "resource": RESOURCE,
        **extra,
    }


def _query(response) -> dict:
    assert response.status_code == 302
    assert response.url.startswith(REDIRECT_URI)
    return {key: values[0] for key, values in parse_qs(urlsplit(response.url).query).items()}


def _code(client: Client, user) -> tuple[str, str]:
    client_id = _register(Client())["client_id"]
    client.force_login(user)
    answer = client.post(reverse("oauth_authorize"), {**_authorize_params(client_id), "decision": "allow"})
    return client_id, _query(answer)["code"]


def _exchange(client_id: str, code: str, verifier: str = VERIFIER) -> dict:
    response = Client().post(
        reverse("oauth_token"),
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    return {"status": response.status_code, **response.json()}


# --- Metadata and registration --------------------------------------------------------------------------------------


def test_it_publishes_protected_resource_and_authorization_server_metadata(client):
    resource = client.get("/.well-known/oauth-protected-resource/mcp").json()
    server = client.get("/.well-known/oauth-authorization-server").json()
    assert resource["resource"] == RESOURCE
    assert resource["authorization_servers"] == ["http://testserver"]
    assert server["issuer"] == "http://testserver"
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["token_endpoint"] == "http://testserver/oauth/token"
    assert server["registration_endpoint"] == "http://testserver/oauth/register"


def test_it_registers_a_public_client(client):
    registered = _register(client)
    assert registered["status"] == 201
    assert registered["client_id"].startswith("client_")
    assert registered["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in registered


@pytest.mark.parametrize(
    "metadata",
    [
        {"redirect_uris": ["http://evil.example/callback"]},
        {"redirect_uris": []},
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"response_types": ["token"]},
    ],
)
def test_it_refuses_a_client_it_cannot_serve_safely(client, metadata):
    assert _register(client, **metadata)["status"] == 400


# --- Consent --------------------------------------------------------------------------------------------------------


def test_it_sends_an_anonymous_user_to_log_in_first(client):
    client_id = _register(client)["client_id"]
    response = client.get(reverse("oauth_authorize"), _authorize_params(client_id))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_it_asks_the_user_and_names_the_client(client, alice):
    client_id = _register(client)["client_id"]
    client.force_login(alice)
    page = client.get(reverse("oauth_authorize"), _authorize_params(client_id)).content.decode()
    assert "Allow “Desk” to use Switchboard as you?" in page
    assert REDIRECT_URI in page


@pytest.mark.parametrize("params", [{"client_id": "client_nope"}, {"redirect_uri": "http://127.0.0.1:1/elsewhere"}])
def test_it_shows_an_error_rather_than_redirect_for_an_unknown_client_or_redirect(client, alice, params):
    client_id = _register(client)["client_id"]
    client.force_login(alice)
    response = client.get(reverse("oauth_authorize"), _authorize_params(client_id, **params))
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"resource": "http://elsewhere.example/mcp/"}, "invalid_target"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_it_refuses_a_request_without_s256_pkce_or_for_another_resource(client, alice, params, error):
    client_id = _register(client)["client_id"]
    client.force_login(alice)
    query = _query(client.get(reverse("oauth_authorize"), _authorize_params(client_id, **params)))
    assert (query["error"], query["state"]) == (error, "xyz")


def test_it_tells_the_client_the_user_said_no(client, alice):
    client_id = _register(client)["client_id"]
    client.force_login(alice)
    answer = client.post(reverse("oauth_authorize"), {**_authorize_params(client_id), "decision": "deny"})
    assert _query(answer)["error"] == "access_denied"
    assert not OAuthGrant.objects.exists()


# --- Tokens ---------------------------------------------------------------------------------------------------------


def test_it_swaps_a_code_and_its_verifier_for_tokens_of_the_user_who_allowed(client, alice):
    client_id, code = _code(client, alice)
    tokens = _exchange(client_id, code)
    assert tokens["status"] == 200 and tokens["token_type"] == "Bearer"
    assert access_token_authenticate(tokens["access_token"], resource=RESOURCE) == alice
    grant = OAuthGrant.objects.get()
    assert grant.access_digest == hashlib.sha256(tokens["access_token"].encode()).hexdigest()
    assert tokens["refresh_token"] not in json.dumps(list(OAuthGrant.objects.values()), default=str)


def test_it_refuses_a_wrong_verifier_and_a_code_used_twice(client, alice):
    client_id, code = _code(client, alice)
    assert _exchange(client_id, code, verifier="w" * 64)["error"] == "invalid_grant"
    assert _exchange(client_id, code)["error"] == "invalid_grant"  # a code is tried once, right or wrong


def test_it_refuses_a_code_for_another_client(client, alice):
    _, code = _code(client, alice)
    other = _register(Client())["client_id"]
    assert _exchange(other, code)["error"] == "invalid_grant"


def test_its_tokens_are_for_the_mcp_endpoint_only(client, alice):
    client_id, code = _code(client, alice)
    tokens = _exchange(client_id, code)
    assert access_token_authenticate(tokens["access_token"], resource="http://elsewhere.example/mcp/") is None
    api = Client().get("/v1/assistants", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert api.status_code == 401


# --- The tokens page ------------------------------------------------------------------------------------------------


def test_it_lists_the_users_signed_in_clients_and_not_another_users(client, alice, bob):
    _code_and_tokens = _exchange(*_code(client, alice))
    assert _code_and_tokens["status"] == 200
    assert "Desk" in client.get(reverse("core:token_list")).content.decode()
    client.force_login(bob)
    assert "Desk" not in client.get(reverse("core:token_list")).content.decode()


def test_it_lets_the_user_revoke_a_client_and_nobody_else(client, alice, bob):
    tokens = _exchange(*_code(client, alice))
    grant = OAuthGrant.objects.get()
    revoke = reverse("oauth_grant_revoke", args=[grant.pk])
    other = Client()
    other.force_login(bob)
    assert other.get(revoke).status_code == 404
    assert other.post(revoke).status_code == 404
    assert access_token_authenticate(tokens["access_token"], resource=RESOURCE) == alice
    assert client.post(revoke).status_code == 302
    assert access_token_authenticate(tokens["access_token"], resource=RESOURCE) is None
    assert "signed out" in client.get(reverse("core:token_list")).content.decode()


def test_personal_tokens_keep_working_beside_it(client, alice):
    _exchange(*_code(client, alice))
    _, raw = token_create(user=alice, name="script")
    assert Client().get("/v1/assistants", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_it_limits_how_many_clients_an_address_registers(client, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "TOKEN_FAILURE_LIMIT": 2}
    statuses = [_register(client)["status"] for _ in range(3)]
    assert statuses == [201, 201, 429]
