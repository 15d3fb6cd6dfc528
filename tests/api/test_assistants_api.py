"""Assistants: create, list, retrieve, modify, delete; MCP servers as `tools`; `model` picks the provider."""

from __future__ import annotations

import pytest

from assistants.models import Assistant, Provider
from mcp_servers.models import MCPServer
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def created(alice_api, demo_assistant) -> dict:
    response = alice_api.post(
        "assistants",
        {
            "model": "offline",
            "name": "Helper",
            "instructions": "Be kind.",
            "tools": [{"type": "mcp", "server_label": "demo"}],
            "metadata": {"team": "a"},
        },
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_it_creates_an_assistant_on_the_offline_provider(created, alice, offline_provider):
    assert created["object"] == "assistant" and created["id"].startswith("asst_")
    assert (created["name"], created["model"], created["instructions"]) == ("Helper", "offline", "Be kind.")
    assert created["tools"] == [{"type": "mcp", "server_label": "demo"}]
    assert created["metadata"] == {"team": "a"}
    assistant = Assistant.objects.get(pk=created["id"])
    assert (assistant.owner, assistant.provider) == (alice, offline_provider)
    assert [s.name for s in assistant.mcp_servers.all()] == ["demo"]


def test_it_picks_a_provider_by_name_and_model(alice_api, offline_provider):
    other = Provider.objects.create(
        name="local", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://127.0.0.1:9/v1", default_model="small"
    )
    body = alice_api.post("assistants", {"model": "local/large", "name": "A"}).json()
    assert body["model"] == "large"
    assert Assistant.objects.get(pk=body["id"]).provider == other
    body = alice_api.post("assistants", {"model": "local", "name": "B"}).json()
    assert body["model"] == "small"


def test_it_refuses_an_unknown_model(alice_api, offline_provider):
    response = alice_api.post("assistants", {"model": "gpt-9", "name": "A"})
    assert response.status_code == 400
    assert error_of(response)["param"] == "model"


def test_it_requires_a_model(alice_api, offline_provider):
    response = alice_api.post("assistants", {"name": "A"})
    assert response.status_code == 400
    assert error_of(response)["param"] == "model"


def test_it_refuses_an_unknown_server_label(alice_api, offline_provider):
    response = alice_api.post("assistants", {"model": "offline", "tools": [{"type": "mcp", "server_label": "nope"}]})
    assert response.status_code == 400
    assert error_of(response)["param"] == "tools[0].server_label"
    assert not Assistant.objects.exists()


def test_it_refuses_a_server_the_user_may_not_use(alice_api, offline_provider):
    MCPServer.objects.create(name="private", transport=MCPServer.Transport.STDIO, command="true")
    response = alice_api.post("assistants", {"model": "offline", "tools": [{"type": "mcp", "server_label": "private"}]})
    assert response.status_code == 400
    assert error_of(response)["param"] == "tools[0].server_label"


def test_it_refuses_tool_types_it_does_not_run(alice_api, offline_provider):
    response = alice_api.post("assistants", {"model": "offline", "tools": [{"type": "code_interpreter"}]})
    assert response.status_code == 400
    assert error_of(response)["param"] == "tools[0].type"


def test_it_refuses_unknown_and_unmapped_fields(alice_api, offline_provider):
    unknown = alice_api.post("assistants", {"model": "offline", "colour": "red"})
    assert (unknown.status_code, error_of(unknown)["param"]) == (400, "colour")
    unmapped = alice_api.post("assistants", {"model": "offline", "reasoning_effort": "low"})
    assert (unmapped.status_code, error_of(unmapped)["code"]) == (400, "unsupported_parameter")


def test_it_reports_a_field_the_service_rejects(alice_api, offline_provider):
    response = alice_api.post("assistants", {"model": "offline", "temperature": 5})
    assert response.status_code == 400
    assert error_of(response)["param"] == "temperature"


def test_it_lists_own_and_shared_assistants(alice_api, bob_api, created, demo_assistant):
    listed = alice_api.get("assistants", order="asc").json()
    assert [a["id"] for a in listed["data"]] == [demo_assistant.pk, created["id"]]
    assert [a["id"] for a in bob_api.get("assistants").json()["data"]] == [demo_assistant.pk]


def test_it_retrieves_an_assistant(alice_api, created):
    assert alice_api.get(f"assistants/{created['id']}").json() == created


def test_it_hides_another_users_assistant(bob_api, created):
    assert bob_api.get(f"assistants/{created['id']}").status_code == 404
    assert bob_api.post(f"assistants/{created['id']}", {"name": "mine"}).status_code == 404
    assert bob_api.delete(f"assistants/{created['id']}").status_code == 404
    assert Assistant.objects.get(pk=created["id"]).name == "Helper"


def test_it_modifies_only_the_given_fields(alice_api, created):
    response = alice_api.post(f"assistants/{created['id']}", {"name": "Renamed", "tools": []})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["tools"], body["instructions"]) == ("Renamed", [], "Be kind.")


def test_it_refuses_to_modify_a_shared_assistant(alice_api, demo_assistant):
    response = alice_api.post(f"assistants/{demo_assistant.pk}", {"name": "Mine now"})
    assert response.status_code == 403
    assert Assistant.objects.get(pk=demo_assistant.pk).name == "Demo assistant"


def test_it_deletes_an_assistant(alice_api, created):
    response = alice_api.delete(f"assistants/{created['id']}")
    assert response.json() == {"id": created["id"], "object": "assistant.deleted", "deleted": True}
    assert not Assistant.objects.filter(pk=created["id"]).exists()


def test_it_refuses_a_model_the_offline_provider_cannot_serve(alice_api, offline_provider):
    response = alice_api.post("assistants", {"model": "Offline/gpt-4o", "name": "A"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "model" and "serves only the model 'offline'" in error["message"]
    assert not Assistant.objects.exists()
