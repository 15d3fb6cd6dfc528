from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from assistants.models import Assistant, Provider
from assistants.services import (
    assistant_create,
    assistant_delete,
    assistant_duplicate,
    assistant_get,
    assistant_update,
    mcp_server_usable,
    provider_usable,
)
from core.errors import ServiceError
from mcp_servers.models import MCPServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices(alice, offline_provider):
    return Assistant.objects.create(name="Alice's helper", owner=alice, provider=offline_provider)


@pytest.fixture
def private_server(db):
    return MCPServer.objects.create(name="private", command="true")


def test_it_creates_an_assistant_owned_by_the_user_on_the_first_enabled_provider(alice, offline_provider):
    Provider.objects.create(name="Another", kind=Provider.Kind.OFFLINE, default_model="offline")
    assistant = assistant_create(user=alice, name="  Mine  ")
    assert (assistant.owner, assistant.provider, assistant.name) == (alice, offline_provider, "Mine")


def test_it_reports_out_of_range_settings_per_field(alice, offline_provider):
    with pytest.raises(ServiceError) as caught:
        assistant_create(user=alice, name="", temperature=2.5, top_p=-0.1, max_output_tokens=0)
    assert set(caught.value.fields) == {"name", "temperature", "top_p", "max_output_tokens"}
    assert not Assistant.objects.exists()


def test_it_requires_a_model_when_the_provider_has_no_default(alice):
    provider = Provider.objects.create(name="Bare", kind=Provider.Kind.OPENAI)
    with pytest.raises(ServiceError) as caught:
        assistant_create(user=alice, name="x", provider=provider)
    assert "model" in caught.value.fields
    assert assistant_create(user=alice, name="x", provider=provider, model="gpt-5-mini").model_name == "gpt-5-mini"


def test_it_refuses_a_disabled_provider(alice, offline_provider):
    offline_provider.enabled = False
    offline_provider.save()
    with pytest.raises(ServiceError) as caught:
        assistant_create(user=alice, name="x", provider=offline_provider)
    assert "provider" in caught.value.fields


def test_it_refuses_unknown_fields(alice, offline_provider):
    with pytest.raises(ServiceError) as caught:
        assistant_create(user=alice, name="x", owner=None)
    assert "owner" in caught.value.fields


def test_it_refuses_metadata_beyond_the_assistants_limits(alice, offline_provider):
    with pytest.raises(ServiceError) as caught:
        assistant_create(user=alice, name="x", metadata={f"k{i}": "v" for i in range(17)})
    assert "metadata" in caught.value.fields


def test_it_offers_servers_on_usable_assistants_only(alice, bob, demo_assistant, private_server, offline_provider):
    bobs = Assistant.objects.create(name="Bob's", owner=bob, provider=offline_provider)
    bobs.mcp_servers.add(private_server)
    assert list(mcp_server_usable(user=alice)) == [demo_assistant.mcp_servers.get()]
    assert set(mcp_server_usable(user=bob)) == {demo_assistant.mcp_servers.get(), private_server}


def test_it_stops_offering_a_server_granted_to_groups_on_an_own_assistant_outside_them(
    bob, private_server, offline_provider
):
    bobs = Assistant.objects.create(name="Bob's", owner=bob, provider=offline_provider)
    bobs.mcp_servers.add(private_server)
    private_server.groups.add(Group.objects.create(name="research"))
    assert private_server not in mcp_server_usable(user=bob)


def test_it_offers_every_enabled_server_and_provider_to_a_superuser(superuser, demo_server, private_server):
    MCPServer.objects.create(name="off", command="true", enabled=False)
    Provider.objects.create(name="Disabled", enabled=False)
    assert set(mcp_server_usable(user=superuser)) == {demo_server, private_server}
    assert [p.name for p in provider_usable(user=superuser)] == []


def test_it_refuses_a_server_the_user_may_not_use(alice, private_server, offline_provider):
    with pytest.raises(ServiceError) as caught:
        assistant_create(user=alice, name="x", mcp_servers=[private_server])
    assert "mcp_servers" in caught.value.fields


def test_it_attaches_a_server_from_a_shared_assistant(alice, demo_assistant, demo_server):
    assistant = assistant_create(user=alice, name="x", mcp_servers=[demo_server])
    assert list(assistant.mcp_servers.all()) == [demo_server]


def test_it_hides_another_users_assistant(bob, alices):
    with pytest.raises(ServiceError, match="No assistant found"):
        assistant_get(user=bob, assistant_id=alices.pk)
    with pytest.raises(ServiceError, match="No assistant found"):
        assistant_update(user=bob, assistant=alices, name="Bob's now")
    with pytest.raises(ServiceError, match="No assistant found"):
        assistant_delete(user=bob, assistant=alices)


def test_it_keeps_a_shared_assistant_read_only_to_other_users(bob, demo_assistant):
    assert assistant_get(user=bob, assistant_id=demo_assistant.pk) == demo_assistant
    with pytest.raises(ServiceError, match="Only an administrator"):
        assistant_get(user=bob, assistant_id=demo_assistant.pk, for_update=True)
    with pytest.raises(ServiceError, match="Only an administrator"):
        assistant_update(user=bob, assistant=demo_assistant, name="Mine")
    with pytest.raises(ServiceError, match="Only an administrator"):
        assistant_delete(user=bob, assistant=demo_assistant)


def test_it_lets_a_superuser_edit_a_shared_assistant(superuser, demo_assistant):
    assert assistant_update(user=superuser, assistant=demo_assistant, name="Renamed").name == "Renamed"


def test_it_updates_only_the_given_fields(alice, alices):
    assistant_update(user=alice, assistant=alices, temperature=0.5)
    alices.refresh_from_db()
    assert (alices.name, alices.temperature) == ("Alice's helper", 0.5)


def test_it_changes_nothing_on_an_invalid_update(alice, alices):
    with pytest.raises(ServiceError):
        assistant_update(user=alice, assistant=alices, name="New", top_p=3)
    alices.refresh_from_db()
    assert (alices.name, alices.top_p) == ("Alice's helper", None)


def test_it_keeps_a_server_already_attached_after_it_stops_being_offered(alice, alices, private_server):
    alices.mcp_servers.add(private_server)
    updated = assistant_update(user=alice, assistant=alices, mcp_servers=[private_server], name="Kept")
    assert list(updated.mcp_servers.all()) == [private_server]


def test_it_deletes_the_owners_assistant(alice, alices):
    assistant_delete(user=alice, assistant=alices)
    assert not Assistant.objects.filter(pk=alices.pk).exists()


def test_it_duplicates_a_shared_assistant_into_one_the_user_owns(bob, demo_assistant, demo_server):
    copy = assistant_duplicate(user=bob, assistant=demo_assistant)
    assert copy.pk != demo_assistant.pk
    assert (copy.owner, copy.name, copy.instructions) == (bob, "Copy of Demo assistant", "Be brief.")
    assert list(copy.mcp_servers.all()) == [demo_server]
    assert Assistant.objects.get(pk=demo_assistant.pk).owner is None


def test_it_refuses_to_duplicate_another_users_assistant(bob, alices):
    with pytest.raises(ServiceError, match="No assistant found"):
        assistant_duplicate(user=bob, assistant=alices)
