"""Each guardrail kind on its own: what it refuses, what it lets through, and why it says it refused."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync

from assistants.models import Assistant
from guardrails.checks import check_for
from guardrails.models import Guardrail
from tests.fakes.openai_server import text

pytestmark = pytest.mark.django_db(transaction=True)


def refusal(guardrail: Guardrail, assistant: Assistant, text: str) -> str:
    return async_to_sync(check_for(guardrail, assistant).refusal)(text)


def test_it_refuses_a_blocked_word_in_any_case_but_not_inside_another_word(helper):
    guardrail = Guardrail(kind=Guardrail.Kind.BLOCKLIST, words=["secret plan"])
    assert refusal(guardrail, helper, "What is the SECRET Plan?") == "it contains the blocked word “secret plan”."
    assert refusal(guardrail, helper, "the secret planet") == ""


def test_it_refuses_text_matching_a_blocked_pattern(helper):
    guardrail = Guardrail(kind=Guardrail.Kind.BLOCKLIST, patterns=[r"\bproject-\d+\b"])
    assert "project-\\d+" in refusal(guardrail, helper, "see project-42 now")
    assert refusal(guardrail, helper, "see project-x now") == ""


def test_it_refuses_text_longer_than_the_maximum(helper):
    guardrail = Guardrail(kind=Guardrail.Kind.MAX_LENGTH, max_chars=10)
    assert refusal(guardrail, helper, "x" * 11) == "it has 11 characters, more than the 10 allowed."
    assert refusal(guardrail, helper, "x" * 10) == ""


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("mail me at jane.doe@example.org please", "an email address"),
        ("You said: “write to jane.doe@example.org”.", "an email address"),
        ("call +44 20 7946 0958 today", "a phone number"),
        ("call (415) 555-2671 today", "a phone number"),
        ("my card is 4111 1111 1111 1111", "a payment card number"),
        ("my card is 4111-1111-1111-1111.", "a payment card number"),
    ],
)
def test_it_refuses_personal_data_and_names_it_without_quoting_it(helper, text, found):
    guardrail = Guardrail(kind=Guardrail.Kind.PII, pii_types=["email", "phone", "card"])
    reason = refusal(guardrail, helper, text)
    assert reason == f"it contains {found}."


@pytest.mark.parametrize(
    "text",
    [
        "an @ sign alone, user@localhost, and a@b",
        "order 4111 1111 1111 1112 fails its checksum",
        "the year 2026 and 12 apples",
        "version 1.2.3 released on 2026-12-03",
    ],
)
def test_it_lets_through_what_only_looks_like_personal_data(helper, text):
    guardrail = Guardrail(kind=Guardrail.Kind.PII, pii_types=["email", "phone", "card"])
    assert refusal(guardrail, helper, text) == ""


def test_it_checks_only_the_kinds_of_personal_data_chosen(helper):
    guardrail = Guardrail(kind=Guardrail.Kind.PII, pii_types=["card"])
    assert refusal(guardrail, helper, "mail jane.doe@example.org") == ""


def test_it_asks_the_providers_moderation_endpoint(alice, vendor, fake):
    assistant = Assistant.objects.create(name="Vendor assistant", owner=alice, provider=vendor)
    guardrail = Guardrail(kind=Guardrail.Kind.MODERATION)
    assert refusal(guardrail, assistant, "I will attack you") == "the provider's moderation flagged it (violence)."
    assert refusal(guardrail, assistant, "a kind word") == ""
    moderation = [request for request in fake.requests if request.path == "/v1/moderations"]
    assert [request.body["input"] for request in moderation] == ["I will attack you", "a kind word"]
    assert moderation[0].headers["authorization"] == "Bearer sk-test"


def test_it_asks_a_judge_assistant_and_trips_on_yes(alice, vendor, fake, helper):
    judge = Assistant.objects.create(name="Judge", owner=alice, provider=vendor, instructions="Be strict.")
    guardrail = Guardrail(kind=Guardrail.Kind.LLM_JUDGE, judge=judge, question="Does it ask for medical advice?")
    fake.script(text("Yes."), text("No."))
    assert refusal(guardrail, helper, "what pills should I take") == (
        "Judge answered yes to “Does it ask for medical advice?”."
    )
    assert refusal(guardrail, helper, "what is the weather") == ""
    asked = fake.model_requests()[0]
    assert "Does it ask for medical advice?" in str(asked.body) and "what pills should I take" in str(asked.body)


def test_it_refuses_a_text_its_patterns_cannot_check_in_time(helper):
    guardrail = Guardrail(kind=Guardrail.Kind.BLOCKLIST, patterns=[r"^(a|aa)+$"])
    started = time.monotonic()
    reason = refusal(guardrail, helper, "a" * 60 + "b")
    assert reason == "it could not be checked against the blocked pattern “^(a|aa)+$” in time."
    assert time.monotonic() - started < 2
