"""Configuration tables read on every run answer "empty" from memory, and never miss a row for long."""

from __future__ import annotations

import pytest

from chat.models import Quota
from core import presence
from core.presence import rows_exist
from guardrails.models import Guardrail

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    presence.rows_forget_all()
    yield
    presence.rows_forget_all()


def test_it_knows_an_empty_table_without_asking_again(django_assert_num_queries):
    assert not rows_exist(Quota)
    with django_assert_num_queries(0):
        assert not rows_exist(Quota)


def test_a_row_saved_or_deleted_here_is_seen_at_once():
    assert not rows_exist(Quota)
    quota = Quota.objects.create(monthly_tokens=10)
    assert rows_exist(Quota)
    quota.delete()
    assert not rows_exist(Quota)


def test_a_row_stored_elsewhere_is_seen_within_the_window(monkeypatch):
    assert not rows_exist(Guardrail)
    # A bulk insert sends no signal, as a row stored by another process would not.
    Guardrail.objects.bulk_create([Guardrail(name="elsewhere", kind=Guardrail.Kind.MAX_LENGTH, mandatory=True)])
    assert not rows_exist(Guardrail)  # within the window: still the answer this process had
    monkeypatch.setattr(presence, "PRESENCE_SECONDS", 0.0)
    assert rows_exist(Guardrail)


def test_a_run_reads_a_guardrail_saved_here_at_once(demo_assistant):
    from guardrails.services import guardrails_read

    assert guardrails_read(demo_assistant) == []
    guardrail = Guardrail.objects.create(name="short", kind=Guardrail.Kind.MAX_LENGTH, mandatory=True)
    assert guardrails_read(demo_assistant) == [guardrail]
