from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from core.tokens import token_create
from files.models import File
from tests.api.conftest import error_of
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db


def _headers(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_create(user=user, name='test')[1]}"}


def _upload(client: Client, headers, name: str, data: bytes | str, purpose: str = "assistants"):
    return client.post("/v1/files", {"file": upload(name, data), "purpose": purpose}, headers=headers)


@pytest.fixture
def alice_h(alice):
    return _headers(alice)


@pytest.fixture
def bob_h(bob):
    return _headers(bob)


def test_it_uploads_a_file_as_openai_shows_it(client, alice_h, _media):
    response = _upload(client, alice_h, "notes.md", "# Notes\nThe launch is on Tuesday.")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "file" and body["id"].startswith("file_")
    assert body["filename"] == "notes.md" and body["bytes"] == 33 and body["purpose"] == "assistants"
    assert body["status"] == "processed"
    stored = File.objects.get(pk=body["id"])
    assert Path(stored.content.path).read_bytes() == b"# Notes\nThe launch is on Tuesday."
    assert str(_media) in stored.content.path


def test_it_lists_retrieves_and_downloads_the_users_files(client, alice_h):
    file_id = _upload(client, alice_h, "a.txt", "alpha").json()["id"]
    listed = client.get("/v1/files", headers=alice_h).json()
    assert [f["id"] for f in listed["data"]] == [file_id]
    assert client.get(f"/v1/files/{file_id}", headers=alice_h).json()["filename"] == "a.txt"
    content = client.get(f"/v1/files/{file_id}/content", headers=alice_h)
    assert content.status_code == 200
    assert b"".join(content.streaming_content) == b"alpha"
    assert 'filename="a.txt"' in content["Content-Disposition"]


def test_it_hides_another_users_file(client, alice_h, bob_h):
    file_id = _upload(client, alice_h, "a.txt", "alpha").json()["id"]
    for response in (
        client.get(f"/v1/files/{file_id}", headers=bob_h),
        client.get(f"/v1/files/{file_id}/content", headers=bob_h),
        client.delete(f"/v1/files/{file_id}", headers=bob_h),
    ):
        assert response.status_code == 404
    assert client.get("/v1/files", headers=bob_h).json()["data"] == []
    assert File.objects.filter(pk=file_id).exists()


def test_it_deletes_a_file_and_its_content(client, alice_h, django_capture_on_commit_callbacks):
    file_id = _upload(client, alice_h, "a.txt", "alpha").json()["id"]
    path = Path(File.objects.get(pk=file_id).content.path)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/v1/files/{file_id}", headers=alice_h)
    assert response.json() == {"id": file_id, "object": "file", "deleted": True}
    assert not File.objects.filter(pk=file_id).exists()
    assert not path.exists()


def test_it_refuses_an_oversized_file_and_keeps_nothing(client, alice_h, settings, _media):
    settings.FILES_MAX_BYTES = 10
    response = _upload(client, alice_h, "big.txt", "x" * 11)
    assert response.status_code == 400
    assert error_of(response)["code"] == "file_too_large"
    assert not File.objects.exists()
    assert not [p for p in Path(_media).rglob("*") if p.is_file()]


@pytest.mark.parametrize(("name", "data"), [("fake.pdf", b"not a pdf"), ("run.exe", b"MZ"), ("t.txt", b"\x00\xff")])
def test_it_refuses_a_file_of_a_type_it_does_not_take_or_that_lies(client, alice_h, name, data):
    response = _upload(client, alice_h, name, data)
    assert response.status_code == 400
    assert error_of(response)["param"] == "file"
    assert not File.objects.exists()


def test_it_refuses_another_purpose_and_a_missing_file(client, alice_h):
    assert error_of(_upload(client, alice_h, "a.txt", "x", purpose="fine-tune"))["param"] == "purpose"
    response = client.post("/v1/files", {"purpose": "assistants"}, headers=alice_h)
    assert error_of(response)["param"] == "file"


def test_it_needs_a_token(client):
    assert client.get("/v1/files").status_code == 401


def test_it_refuses_an_upload_whose_body_is_far_over_the_limit(client, alice_h, settings):
    settings.FILES_MAX_BYTES = 10
    response = _upload(client, alice_h, "big.txt", "x" * 100_000)
    assert response.status_code == 400
    assert error_of(response)["code"] == "file_too_large"
    assert not File.objects.exists()
