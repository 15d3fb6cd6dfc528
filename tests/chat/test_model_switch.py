"""Another model within a conversation: the chat header's switch, the runs that follow it, and the answers that
name the model that wrote them."""

# ruff: noqa: F811 - `fake` and `vendor` are fixtures; tests name them as parameters

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assistants.models import Assistant
from chat import services
from chat.models import Conversation, Run
from core.errors import ServiceError
from tests.chat.test_usage import turn
from tests.guardrails.conftest import fake, vendor  # noqa: F401 - fixtures


@pytest.fixture
def writer(alice, offline_provider) -> Assistant:
    return Assistant.objects.create(owner=alice, name="Writer", provider=offline_provider, model="offline")


@pytest.fixture
def conversation(alice, writer) -> Conversation:
    return Conversation.objects.create(owner=alice, assistant=writer, title="Models")


@pytest.fixture
def on_vendor(alice, vendor) -> Conversation:
    """A conversation with an assistant on a provider that cannot tell which models it serves."""
    assistant = Assistant.objects.create(owner=alice, name="Vendor assistant", provider=vendor)
    return Conversation.objects.create(owner=alice, assistant=assistant)


def _switch(client: Client, conversation: Conversation, model: str, *, follow: bool = False):
    url = reverse("chat:conversation_model", args=[conversation.pk])
    return client.post(url, {"model": model}, follow=follow)


async def _choose(user, conversation: Conversation, model: str) -> None:
    await sync_to_async(services.conversation_model_switch)(user=user, conversation_id=conversation.pk, model=model)


def _model_of(conversation: Conversation) -> str:
    return Conversation.objects.get(pk=conversation.pk).model


# --- The page's switch --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_switches_the_model_and_comes_back_to_the_conversation(client, alice, conversation):
    client.force_login(alice)

    response = _switch(client, conversation, "offline-large")

    assert response.status_code == 302
    assert response.url == reverse("chat:conversation_detail", args=[conversation.pk])
    assert _model_of(conversation) == "offline-large"
    page = client.get(response.url).content.decode()
    assert "Writer answers with offline-large from the next message on." in page
    assert 'class="model-current model-chosen">offline-large</span>' in page


@pytest.mark.django_db(transaction=True)
async def test_it_answers_with_the_model_switched_to(alice, conversation):
    await _choose(alice, conversation, "offline-large")

    frames = await turn(alice, conversation, "which model are you?")

    assert frames[-1]["event"] == "thread.run.completed"
    assert frames[-1]["data"]["model"] == "offline-large"
    assert [run.model async for run in Run.objects.filter(conversation=conversation)] == ["offline-large"]


@pytest.mark.django_db(transaction=True)
async def test_it_asks_the_provider_for_the_model_switched_to(alice, on_vendor, fake):
    await _choose(alice, on_vendor, "fake-bigger")

    await turn(alice, on_vendor, "hello")

    (request,) = fake.model_requests()
    assert request.body["model"] == "fake-bigger"
    run = await Run.objects.aget(conversation=on_vendor)
    assert (run.model, run.status) == ("fake-bigger", "completed")


@pytest.mark.django_db
def test_it_shows_the_model_on_each_answer(client, alice, conversation):
    client.force_login(alice)
    _switch(client, conversation, "offline-large")
    run = conversation.runs.create(assistant=conversation.assistant, status="completed", model="offline-large")
    conversation.messages.create(role="assistant", content="An answer.", run=run, assistant=conversation.assistant)

    page = client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()

    assert 'title="Written by Writer with the model offline-large"' in page
    assert '<span class="answer-model">offline-large</span>' in page


@pytest.mark.django_db
def test_it_hides_another_users_conversation(client, bob, conversation):
    client.force_login(bob)

    response = _switch(client, conversation, "offline-large")

    assert response.status_code == 404
    assert _model_of(conversation) == ""


@pytest.mark.django_db
def test_it_asks_anonymous_users_to_log_in(client, conversation):
    response = _switch(client, conversation, "offline-large")

    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert _model_of(conversation) == ""


@pytest.mark.django_db
def test_it_refuses_a_switch_without_the_csrf_token(alice, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = _switch(client, conversation, "offline-large")

    assert response.status_code == 403
    assert _model_of(conversation) == ""


@pytest.mark.django_db
def test_it_refuses_to_switch_the_model_while_a_run_is_active(client, alice, conversation):
    conversation.runs.create(assistant=conversation.assistant, status="in_progress", heartbeat_at=timezone.now())
    client.force_login(alice)

    page = _switch(client, conversation, "offline-large", follow=True).content.decode()

    assert "has an active run" in page and "wait for it or cancel it" in page
    assert _model_of(conversation) == ""


@pytest.mark.django_db
def test_it_refuses_a_model_the_provider_cannot_serve(client, alice, conversation):
    client.force_login(alice)
    _switch(client, conversation, "offline-large")

    page = _switch(client, conversation, "gpt-4o", follow=True).content.decode()

    assert "The offline provider serves only the model &#x27;offline&#x27;" in page
    assert _model_of(conversation) == "offline-large"


@pytest.mark.django_db
def test_it_refuses_a_model_name_no_provider_would_know(alice, on_vendor):
    for name in ("gpt 4o", "<b>gpt</b>", "-gpt", "g" * 201):
        with pytest.raises(ServiceError) as refused:
            services.conversation_model_switch(user=alice, conversation_id=on_vendor.pk, model=name)
        assert refused.value.code == "invalid_model"
    assert _model_of(on_vendor) == ""


@pytest.mark.django_db
def test_it_takes_any_well_formed_name_where_the_provider_cannot_tell(alice, on_vendor):
    services.conversation_model_switch(user=alice, conversation_id=on_vendor.pk, model=" meta-llama/Llama-3.1-8B ")

    assert _model_of(on_vendor) == "meta-llama/Llama-3.1-8B"


@pytest.mark.django_db
def test_it_goes_back_to_the_assistants_model_when_emptied(client, alice, conversation):
    client.force_login(alice)
    _switch(client, conversation, "offline-large")

    page = _switch(client, conversation, "", follow=True).content.decode()

    assert _model_of(conversation) == ""
    assert "Writer answers with its own model, offline, from the next message on." in page


@pytest.mark.django_db
def test_it_offers_the_models_the_provider_is_known_to_serve(client, alice, bob, conversation, offline_provider):
    Assistant.objects.create(owner=alice, name="Large", provider=offline_provider, model="offline-large")
    Assistant.objects.create(owner=bob, name="Bob's", provider=offline_provider, model="offline-bobs")
    client.force_login(alice)

    page = client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()

    offered = page.split('<datalist id="model-options">', 1)[1].split("</datalist>", 1)[0]
    assert offered == '<option value="offline"></option><option value="offline-large"></option>'


# --- The model and the assistant switch ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_keeps_the_model_for_an_assistant_whose_provider_serves_it(alice, conversation, offline_provider):
    other = Assistant.objects.create(owner=alice, name="Other", provider=offline_provider)
    services.conversation_model_switch(user=alice, conversation_id=conversation.pk, model="offline-large")

    services.conversation_assistant_switch(user=alice, conversation_id=conversation.pk, assistant_id=other.pk)

    assert _model_of(conversation) == "offline-large"


@pytest.mark.django_db
def test_it_clears_the_model_for_an_assistant_whose_provider_cannot_serve_it(alice, conversation, vendor):
    other = Assistant.objects.create(owner=alice, name="Vendor assistant", provider=vendor)
    services.conversation_model_switch(user=alice, conversation_id=conversation.pk, model="offline-large")

    services.conversation_assistant_switch(user=alice, conversation_id=conversation.pk, assistant_id=other.pk)

    assert _model_of(conversation) == ""
