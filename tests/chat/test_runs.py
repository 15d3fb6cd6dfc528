from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, Run
from chat.services import runs_expire_stale
from chat.services.messages import _message_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


def test_it_expires_runs_left_behind_by_a_dead_process(conversation):
    long_ago = timezone.now() - timedelta(minutes=10)
    dead = Run.objects.create(conversation=conversation, status=Run.Status.IN_PROGRESS, heartbeat_at=long_ago)
    partial = Message.objects.create(conversation=conversation, role="assistant", run=dead, status="in_progress")
    alive = Run.objects.create(conversation=conversation, status=Run.Status.IN_PROGRESS, heartbeat_at=timezone.now())

    assert runs_expire_stale() == 1

    dead.refresh_from_db()
    alive.refresh_from_db()
    partial.refresh_from_db()
    assert dead.status == Run.Status.EXPIRED and dead.last_error
    assert alive.status == Run.Status.IN_PROGRESS
    assert partial.status == Message.Status.INCOMPLETE


def test_it_accepts_a_message_when_the_active_run_is_stale(alice, conversation):
    long_ago = timezone.now() - timedelta(minutes=10)
    Run.objects.create(conversation=conversation, status=Run.Status.IN_PROGRESS, heartbeat_at=long_ago)
    message, run, _ = _message_store(
        user=alice, conversation_id=conversation.pk, content="hello again", role="user", metadata=None, answer=True
    )
    assert run.status == Run.Status.QUEUED
    assert message.run == run
    conversation.refresh_from_db()
    assert conversation.title == "hello again"


def test_it_snapshots_the_model_and_instructions_on_the_run(alice, conversation):
    _, run, _ = _message_store(
        user=alice, conversation_id=conversation.pk, content="hi", role="user", metadata=None, answer=True
    )
    assert (run.model, run.instructions) == ("offline", "Be brief.")
