from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from assistants.models import Assistant, Provider
from mcp_servers.models import MCPServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices(alice, offline_provider):
    return Assistant.objects.create(name="Alice's helper", owner=alice, provider=offline_provider, instructions="Hi.")


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


def _valid(provider: Provider, **overrides) -> dict:
    data = {"name": "Writer", "provider": provider.pk, "instructions": "Write.", "parallel_tool_calls": "on"}
    return {**data, **overrides}


def _urls(assistant: Assistant) -> list[str]:
    return [
        reverse("assistants:assistant_detail", args=[assistant.pk]),
        reverse("assistants:assistant_edit", args=[assistant.pk]),
        reverse("assistants:assistant_delete", args=[assistant.pk]),
    ]


def test_it_redirects_anonymous_users_to_login(client, alices):
    urls = [reverse("assistants:assistant_list"), reverse("assistants:assistant_create"), *_urls(alices)]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login"))
    response = client.post(reverse("assistants:assistant_duplicate", args=[alices.pk]))
    assert response.url.startswith(reverse("login"))
    assert Assistant.objects.count() == 1


def test_it_lists_your_assistants_and_shared_ones_but_not_others(client, alice, bob, alices, demo_assistant):
    Assistant.objects.create(name="Bob's secret", owner=bob, provider=demo_assistant.provider)
    client.force_login(alice)
    page = client.get(reverse("assistants:assistant_list")).content.decode()
    assert "Alice&#x27;s helper" in page
    assert "Demo assistant" in page
    assert "Bob&#x27;s secret" not in page


def test_it_creates_an_assistant_and_shows_it(client, alice, offline_provider, demo_assistant, demo_server):
    client.force_login(alice)
    data = _valid(offline_provider, mcp_servers=[demo_server.pk], temperature="0.7")
    response = client.post(reverse("assistants:assistant_create"), data, follow=True)
    assistant = Assistant.objects.get(owner=alice)
    assert response.redirect_chain[-1][0] == reverse("assistants:assistant_detail", args=[assistant.pk])
    assert (assistant.name, assistant.temperature, list(assistant.mcp_servers.all())) == ("Writer", 0.7, [demo_server])
    assert "Created Writer." in response.content.decode()


def test_it_shows_validation_errors_next_to_their_fields(client, alice, offline_provider):
    client.force_login(alice)
    data = _valid(offline_provider, name="", temperature="2.5", top_p="1.5", instructions="x" * 256_001)
    response = client.post(reverse("assistants:assistant_create"), data)
    page = response.content.decode()
    assert response.status_code == 200
    for field in ("name", "temperature", "top_p", "instructions"):
        assert f'<ul class="errorlist" id="id_{field}_error">' in page, field
        # The input points at its error, so it is announced with the field.
        assert f'id_{field}_error" id="id_{field}"' in page, field
    assert "Ensure this value is less than or equal to 2." in page
    assert not Assistant.objects.exists()


def test_it_shows_a_missing_model_next_to_the_model_field(client, alice):
    bare = Provider.objects.create(name="Bare OpenAI", kind=Provider.Kind.OPENAI)
    client.force_login(alice)
    page = client.post(reverse("assistants:assistant_create"), _valid(bare)).content.decode()
    assert '<ul class="errorlist" id="id_model_error"><li>Enter a model: this provider has no default model.' in page
    assert not Assistant.objects.exists()


def test_it_offers_only_providers_and_servers_you_may_use(client, alice, offline_provider, demo_assistant):
    Provider.objects.create(name="Switched off", enabled=False)
    MCPServer.objects.create(name="ops-shell", command="bash")
    client.force_login(alice)
    page = client.get(reverse("assistants:assistant_create")).content.decode()
    assert "Offline" in page and "demo" in page
    assert "Switched off" not in page
    assert "ops-shell" not in page


def test_it_refuses_a_server_you_may_not_use(client, alice, offline_provider):
    hidden = MCPServer.objects.create(name="ops-shell", command="bash")
    client.force_login(alice)
    response = client.post(reverse("assistants:assistant_create"), _valid(offline_provider, mcp_servers=[hidden.pk]))
    assert '<ul class="errorlist" id="id_mcp_servers_error">' in response.content.decode()
    assert not Assistant.objects.exists()


def test_it_hides_another_users_assistant(client, bob, alices):
    client.force_login(bob)
    for url in _urls(alices):
        assert client.get(url).status_code == 404, url
    for url in _urls(alices)[1:]:
        assert client.post(url, _valid(alices.provider, name="Bob's now")).status_code == 404, url
    assert client.post(reverse("assistants:assistant_duplicate", args=[alices.pk])).status_code == 404
    alices.refresh_from_db()
    assert alices.name == "Alice's helper"
    assert Assistant.objects.count() == 1


def test_it_keeps_a_shared_assistant_read_only_to_users(client, bob, demo_assistant):
    client.force_login(bob)
    detail = client.get(reverse("assistants:assistant_detail", args=[demo_assistant.pk])).content.decode()
    assert reverse("assistants:assistant_edit", args=[demo_assistant.pk]) not in detail
    assert reverse("assistants:assistant_delete", args=[demo_assistant.pk]) not in detail
    edit = reverse("assistants:assistant_edit", args=[demo_assistant.pk])
    assert client.get(edit).status_code == 403
    assert client.post(edit, _valid(demo_assistant.provider, name="Mine")).status_code == 403
    assert client.post(reverse("assistants:assistant_delete", args=[demo_assistant.pk])).status_code == 403
    demo_assistant.refresh_from_db()
    assert demo_assistant.name == "Demo assistant"


def test_it_lets_a_superuser_edit_a_shared_assistant(client, superuser, demo_assistant):
    client.force_login(superuser)
    edit = reverse("assistants:assistant_edit", args=[demo_assistant.pk])
    response = client.post(edit, _valid(demo_assistant.provider, name="House assistant"))
    assert response.status_code == 302
    demo_assistant.refresh_from_db()
    assert (demo_assistant.name, demo_assistant.owner) == ("House assistant", None)


def test_it_edits_your_assistant(client, alice, alices):
    client.force_login(alice)
    edit = reverse("assistants:assistant_edit", args=[alices.pk])
    assert 'value="Alice&#x27;s helper"' in client.get(edit).content.decode()
    response = client.post(edit, _valid(alices.provider, name="Renamed", top_p="0.5"))
    assert response.url == reverse("assistants:assistant_detail", args=[alices.pk])
    alices.refresh_from_db()
    assert (alices.name, alices.top_p) == ("Renamed", 0.5)


def test_it_keeps_the_saved_name_in_the_heading_when_an_edit_fails(client, alice, alices):
    client.force_login(alice)
    edit = reverse("assistants:assistant_edit", args=[alices.pk])
    page = client.post(edit, _valid(alices.provider, name="", temperature="9")).content.decode()
    assert "<h1>Edit Alice&#x27;s helper</h1>" in page
    alices.refresh_from_db()
    assert alices.temperature is None


def test_it_asks_before_deleting_and_deletes_on_post(client, alice, alices):
    client.force_login(alice)
    delete = reverse("assistants:assistant_delete", args=[alices.pk])
    confirm = client.get(delete)
    assert confirm.status_code == 200
    assert "Delete Alice&#x27;s helper?" in confirm.content.decode()
    assert Assistant.objects.filter(pk=alices.pk).exists()
    response = client.post(delete)
    assert response.url == reverse("assistants:assistant_list")
    assert not Assistant.objects.filter(pk=alices.pk).exists()


def test_it_duplicates_a_shared_assistant_into_your_own(client, bob, demo_assistant):
    client.force_login(bob)
    duplicate = reverse("assistants:assistant_duplicate", args=[demo_assistant.pk])
    assert client.get(duplicate).status_code == 405
    response = client.post(duplicate)
    copy = Assistant.objects.get(owner=bob)
    assert response.url == reverse("assistants:assistant_detail", args=[copy.pk])
    assert copy.name == "Copy of Demo assistant"
    assert client.get(reverse("assistants:assistant_edit", args=[copy.pk])).status_code == 200


def test_it_rejects_posts_without_a_csrf_token(alice, alices, offline_provider):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    posts = [
        (reverse("assistants:assistant_create"), _valid(offline_provider)),
        (reverse("assistants:assistant_edit", args=[alices.pk]), _valid(offline_provider, name="Changed")),
        (reverse("assistants:assistant_delete", args=[alices.pk]), {}),
        (reverse("assistants:assistant_duplicate", args=[alices.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert list(Assistant.objects.values_list("name", flat=True)) == ["Alice's helper"]


def test_it_offers_a_chat_button_that_starts_a_conversation(client, alice, alices):
    client.force_login(alice)
    page = client.get(reverse("assistants:assistant_detail", args=[alices.pk])).content.decode()
    assert f'action="{reverse("chat:conversation_create")}"' in page
    assert f'name="assistant" value="{alices.pk}"' in page
    response = client.post(reverse("chat:conversation_create"), {"assistant": alices.pk})
    assert response.status_code == 302
    assert alice.conversations.get().assistant == alices
