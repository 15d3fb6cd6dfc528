"""Bearer auth, the one body parser and the error envelope, as OpenAI's clients expect them."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from core.tokens import token_create, token_revoke
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def test_it_refuses_a_request_without_a_token():
    response = Client().get("/v1/threads/thread_x")
    assert response.status_code == 401
    assert error_of(response)["code"] == "missing_api_key"


def test_it_refuses_an_unknown_token():
    response = Client().get("/v1/assistants", headers={"Authorization": "Bearer sb_not-a-real-token"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"


def test_it_refuses_a_revoked_token(alice):
    token, raw = token_create(user=alice, name="old")
    token_revoke(user=alice, token_id=token.pk)
    response = Client().get("/v1/assistants", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401


def test_it_ignores_a_session_cookie(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/v1/threads", "{}", content_type="application/json").status_code == 401


def test_it_needs_no_csrf_token_with_a_bearer_token(alice):
    raw = token_create(user=alice, name="t")[1]
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/v1/threads", "{}", content_type="application/json", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200


def test_it_refuses_a_body_that_is_not_json(alice_api):
    response = alice_api.client.post(
        "/v1/threads", "not json", content_type="application/json", headers=alice_api._headers()
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_it_refuses_a_body_that_is_not_an_object(alice_api):
    response = alice_api.post("threads", ["a"])
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_it_refuses_a_body_over_one_mebibyte(alice_api):
    body = json.dumps({"metadata": {"k": "x" * (1024 * 1024)}})
    response = alice_api.client.post("/v1/threads", body, content_type="application/json", headers=alice_api._headers())
    assert response.status_code == 400
    assert error_of(response)["code"] == "body_too_large"


def test_it_names_an_unknown_field(alice_api):
    response = alice_api.post("threads", {"metadata": {}, "colour": "red"})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["code"], error["type"]) == ("colour", "unknown_parameter", "invalid_request_error")


def test_it_refuses_a_method_the_endpoint_does_not_have(alice_api):
    response = alice_api.client.put("/v1/threads", "{}", content_type="application/json", headers=alice_api._headers())
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_it_answers_an_unknown_path_in_the_envelope(alice_api):
    response = alice_api.get("fine_tuning/jobs")
    assert response.status_code == 404
    assert error_of(response)["message"] == "Unknown API path: /v1/fine_tuning/jobs"


def test_it_tells_clients_not_to_retry_a_refusal(alice_api):
    response = alice_api.get("threads/thread_missing")
    assert response.status_code == 404
    assert response["x-should-retry"] == "false"
