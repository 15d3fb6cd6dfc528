from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from assistants.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)

# The provider page's price rows (an inline formset): none added.
NO_PRICES = {"prices-TOTAL_FORMS": "0", "prices-INITIAL_FORMS": "0"}


def _form(**overrides) -> dict:
    data = {
        "name": "P", "preset": "", "kind": "openai", "api_style": "responses", "base_url": "", "api_key": "",
        "default_model": "", "timeout": "60", "max_retries": "2", "enabled": "on", **NO_PRICES,
    }  # fmt: skip
    return {**data, **overrides}


def test_it_fills_base_url_and_model_from_a_preset(client, superuser):
    client.force_login(superuser)
    response = client.post(reverse("admin:assistants_provider_add"), _form(name="Groq", preset="groq", api_key="k"))
    assert response.status_code == 302
    groq = Provider.objects.get(name="Groq")
    assert (groq.kind, groq.api_style) == ("openai_compatible", "chat_completions")
    assert groq.base_url == "https://api.groq.com/openai/v1" and groq.default_model == "llama-3.3-70b-versatile"


def test_it_keeps_what_the_admin_typed_over_the_preset(client, superuser):
    client.force_login(superuser)
    data = _form(name="Local", preset="ollama", base_url="http://10.0.0.5:11434/v1", default_model="qwen3")
    client.post(reverse("admin:assistants_provider_add"), data)
    local = Provider.objects.get(name="Local")
    assert (local.base_url, local.default_model) == ("http://10.0.0.5:11434/v1", "qwen3")


def test_it_requires_a_base_url_for_compatible_providers(client, superuser):
    client.force_login(superuser)
    response = client.post(reverse("admin:assistants_provider_add"), _form(kind="openai_compatible"))
    assert response.status_code == 200
    assert "needs a base URL" in response.content.decode()
    assert not Provider.objects.exists()


def _test_action(client, provider: Provider) -> str:
    response = client.post(
        reverse("admin:assistants_provider_changelist"),
        {"action": "test_provider", "_selected_action": [provider.pk]},
        follow=True,
    )
    return response.content.decode()


def test_it_reports_a_working_provider_with_its_latency(client, superuser, offline_provider):
    client.force_login(superuser)
    page = _test_action(client, offline_provider)
    assert "Offline: OK in" in page and "offline answered." in page


def test_it_reports_the_exact_failure_without_the_key(client, superuser, unused_tcp_port):
    provider = Provider.objects.create(
        name="Down", kind="openai_compatible", api_style="chat_completions",
        base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", api_key="sk-never-shown-42", default_model="m",
    )  # fmt: skip
    client.force_login(superuser)
    page = _test_action(client, provider)
    assert "Down: Failed in" in page
    assert f"The provider at 127.0.0.1:{unused_tcp_port} could not be reached." in page
    assert "sk-never-shown-42" not in page


def test_it_sets_a_providers_prices_on_its_page(client, superuser):
    client.force_login(superuser)
    data = _form(name="Priced", **{"prices-TOTAL_FORMS": "2", "prices-0-model": "gpt-x",
                                   "prices-0-input_per_million": "2.50", "prices-0-output_per_million": "10",
                                   "prices-1-model": "", "prices-1-input_per_million": "1",
                                   "prices-1-output_per_million": "1"})  # fmt: skip
    assert client.post(reverse("admin:assistants_provider_add"), data).status_code == 302
    provider = Provider.objects.get(name="Priced")
    price = provider.prices.get(model="gpt-x")
    assert (price.input_per_million, price.output_per_million) == (Decimal("2.5"), Decimal("10"))
    assert provider.prices.for_model(provider_id=provider.pk, model="other").model == ""
