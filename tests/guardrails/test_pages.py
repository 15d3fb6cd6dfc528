"""Guardrails on the assistant's page: its owner adds and removes them; others cannot; the admin's mandatory
ones are listed but stay; superusers manage guardrails in the admin."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from assistants.models import Assistant
from guardrails.models import Guardrail

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def detail(assistant: Assistant) -> str:
    return reverse("assistants:assistant_detail", args=[assistant.pk])


def new(assistant: Assistant) -> str:
    return reverse("guardrails:guardrail_create", args=[assistant.pk])


def test_it_lists_an_assistants_guardrails_and_the_mandatory_ones(alice, helper):
    Guardrail.objects.create(assistant=helper, name="No plans", kind="blocklist", words=["plan"])
    Guardrail.objects.create(name="House rule", kind="max_length", max_chars=100, mandatory=True)
    Guardrail.objects.create(name="Someone else's", kind="max_length", max_chars=100)
    page = logged_in(alice).get(detail(helper)).content.decode()
    assert "No plans" in page and "House rule" in page and "required by an administrator" in page
    assert "Someone else" not in page
    assert page.count(">Remove</button>") == 1  # the mandatory one is the administrator's to remove
    assert new(helper) in page


def test_it_adds_a_pii_guardrail_from_the_page(alice, helper):
    response = logged_in(alice).post(
        new(helper),
        {
            "name": "No PII",
            "kind": "pii",
            "stage": "both",
            "pii_types": ["email", "card"],
            "phone_region": "US",
        },
    )
    assert response.status_code == 302 and response["Location"] == detail(helper)
    guardrail = Guardrail.objects.get(assistant=helper)
    assert (guardrail.name, guardrail.kind, guardrail.stage, guardrail.pii_types) == (
        "No PII",
        "pii",
        "both",
        ["email", "card"],
    )


def test_it_adds_a_blocklist_typed_one_a_line(alice, helper):
    logged_in(alice).post(
        new(helper),
        {
            "name": "Words",
            "kind": "blocklist",
            "stage": "input",
            "words": "alpha\n\n beta \n",
            "patterns": r"\d{4}",
        },
    )
    guardrail = Guardrail.objects.get(assistant=helper)
    assert (guardrail.words, guardrail.patterns) == (["alpha", "beta"], [r"\d{4}"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "blocklist"}, "Enter words or regular expressions to refuse."),
        ({"kind": "blocklist", "patterns": "(unclosed"}, "is not a regular expression"),
        ({"kind": "max_length"}, "Enter the most characters a text may have."),
        ({"kind": "pii"}, "Choose one or more of"),
        ({"kind": "moderation"}, "this assistant&#x27;s provider has no moderation endpoint"),
        ({"kind": "llm_judge"}, "Choose the assistant that judges the text."),
    ],
)
def test_it_refuses_a_guardrail_missing_what_its_kind_needs(alice, helper, data, message):
    response = logged_in(alice).post(new(helper), {"name": "G", "stage": "input", "phone_region": "US", **data})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Guardrail.objects.exists()


def test_it_refuses_a_judge_the_owner_may_not_use(alice, bob, helper, offline_provider):
    bobs = Assistant.objects.create(name="Bob's judge", owner=bob, provider=offline_provider)
    response = logged_in(alice).post(
        new(helper),
        {
            "name": "J",
            "kind": "llm_judge",
            "stage": "input",
            "judge": bobs.pk,
            "question": "Rude?",
            "phone_region": "US",
        },
    )
    assert response.status_code == 200 and not Guardrail.objects.exists()


def test_it_removes_a_guardrail(alice, helper):
    guardrail = Guardrail.objects.create(assistant=helper, name="No plans", kind="blocklist", words=["plan"])
    url = reverse("guardrails:guardrail_delete", args=[helper.pk, guardrail.pk])
    assert logged_in(alice).post(url).status_code == 302
    assert not Guardrail.objects.exists()


def test_it_keeps_a_mandatory_guardrail_from_an_assistants_owner(alice, helper):
    guardrail = Guardrail.objects.create(name="House rule", kind="max_length", max_chars=9, mandatory=True)
    url = reverse("guardrails:guardrail_delete", args=[helper.pk, guardrail.pk])
    assert logged_in(alice).post(url).status_code == 404
    assert Guardrail.objects.filter(pk=guardrail.pk).exists()


def test_it_hides_another_users_assistants_guardrails(bob, helper):
    guardrail = Guardrail.objects.create(assistant=helper, name="No plans", kind="blocklist", words=["plan"])
    client = logged_in(bob)
    assert client.get(new(helper)).status_code == 404
    assert client.post(new(helper), {"name": "Mine", "kind": "max_length", "max_chars": 3}).status_code == 404
    url = reverse("guardrails:guardrail_delete", args=[helper.pk, guardrail.pk])
    assert client.post(url).status_code == 404
    assert Guardrail.objects.count() == 1


def test_it_shows_guardrails_read_only_on_a_shared_assistant(alice, offline_provider):
    shared = Assistant.objects.create(name="Shared", provider=offline_provider)
    Guardrail.objects.create(assistant=shared, name="Kept", kind="max_length", max_chars=9)
    page = logged_in(alice).get(detail(shared)).content.decode()
    assert "Kept" in page and ">Remove</button>" not in page and new(shared) not in page
    assert logged_in(alice).get(new(shared)).status_code == 403


def test_it_lets_a_superuser_add_a_mandatory_guardrail_in_the_admin(superuser):
    client = logged_in(superuser)
    response = client.post(
        reverse("admin:guardrails_guardrail_add"),
        {
            "name": "House rule",
            "kind": "blocklist",
            "stage": "both",
            "words": "forbidden",
            "mandatory": "on",
            "enabled": "on",
            "phone_region": "US",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    guardrail = Guardrail.objects.get()
    assert (guardrail.mandatory, guardrail.assistant_id, guardrail.words) == (True, None, ["forbidden"])


def test_it_refuses_a_mandatory_guardrail_on_one_assistant_in_the_admin(superuser, helper):
    response = logged_in(superuser).post(
        reverse("admin:guardrails_guardrail_add"),
        {
            "name": "R",
            "kind": "max_length",
            "stage": "input",
            "max_chars": 5,
            "mandatory": "on",
            "assistant": helper.pk,
            "phone_region": "US",
        },
    )
    assert response.status_code == 200 and "Only a guardrail without an assistant" in response.content.decode()


def test_it_keeps_the_guardrails_admin_to_superusers(charlie):
    charlie.is_staff = True
    charlie.save()
    assert logged_in(charlie).get(reverse("admin:guardrails_guardrail_add")).status_code == 403
