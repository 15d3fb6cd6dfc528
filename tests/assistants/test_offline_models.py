"""The offline provider serves one model: an assistant on it with any other model name is refused, clearly."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistants.models import Assistant, Provider
from assistants.services import assistant_create, assistant_update
from core.errors import ServiceError

pytestmark = pytest.mark.django_db


def test_it_refuses_a_model_the_offline_model_cannot_serve(alice, offline_provider):
    with pytest.raises(ServiceError) as caught:
        assistant_create(user=alice, name="x", provider=offline_provider, model="gpt-4o")
    assert "The offline provider serves only the model 'offline'" in " ".join(caught.value.fields["model"])
    assert not Assistant.objects.exists()


def test_it_accepts_the_offline_model_and_its_named_variants(alice, offline_provider):
    for model in ("", "offline", "offline-large"):
        assert assistant_create(user=alice, name=model or "default", provider=offline_provider, model=model).pk


def test_it_refuses_a_switch_to_the_offline_provider_that_keeps_a_vendor_model(alice, offline_provider):
    vendor = Provider.objects.create(
        name="Vendor", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://127.0.0.1:9/v1", default_model="m"
    )
    assistant = assistant_create(user=alice, name="x", provider=vendor, model="llama3.2")
    with pytest.raises(ServiceError) as caught:
        assistant_update(user=alice, assistant=assistant, provider=offline_provider)
    assert "model" in caught.value.fields
    assistant.refresh_from_db()
    assert assistant.provider == vendor


def test_it_leaves_other_providers_model_names_to_them(alice):
    vendor = Provider.objects.create(
        name="Vendor", kind=Provider.Kind.OPENAI_COMPATIBLE, base_url="http://127.0.0.1:9/v1", default_model="m"
    )
    assert assistant_create(user=alice, name="x", provider=vendor, model="anything-at-all").model == "anything-at-all"


def test_it_shows_the_refusal_next_to_the_model_field(client, alice, offline_provider):
    client.force_login(alice)
    data = {"name": "Writer", "provider": offline_provider.pk, "model": "gpt-4o", "parallel_tool_calls": "on"}
    response = client.post(reverse("assistants:assistant_create"), data)
    assert response.status_code == 200
    assert "The offline provider serves only the model" in response.content.decode()
    assert "gpt-4o" in response.content.decode()
    assert not Assistant.objects.filter(owner=alice).exists()
