"""Provider clients are reused across runs, replaced when the provider changes, never shared with a probe."""

from __future__ import annotations

import pytest

from assistants.factory import ProviderClient, provider_client
from assistants.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def vendor(db):
    return Provider.objects.create(
        name="Vendor", kind=Provider.Kind.OPENAI, base_url="http://127.0.0.1:9/v1", api_key="sk-one", default_model="m"
    )


async def test_it_reuses_one_client_for_a_provider_on_one_event_loop(vendor):
    again = await Provider.objects.aget(pk=vendor.pk)
    assert provider_client(vendor) is provider_client(again)


async def test_it_builds_a_new_client_once_the_provider_changes(vendor):
    before = provider_client(vendor)
    vendor.api_key = "sk-two"
    after = provider_client(vendor)
    assert after is not before
    assert after.api_key == "sk-two"


async def test_it_gives_an_unsaved_probe_its_own_client(vendor):
    probe = Provider(**{f.attname: getattr(vendor, f.attname) for f in Provider._meta.concrete_fields})
    assert provider_client(probe) is not provider_client(vendor)


async def test_a_provider_client_is_the_one_that_skips_the_walk(vendor):
    assert isinstance(provider_client(vendor), ProviderClient)
