"""Expiring the runs of a process that died: the rows first, then the announcement to each conversation."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.events import events_send
from chat.models import Message, Run, RunStep
from chat.serializers import message_object, run_object

logger = logging.getLogger(__name__)

EXPIRED_MESSAGE = "The process running this run stopped."
UNANSWERED_MESSAGE = "Nobody submitted the tool outputs (or approvals) this run waited for in time."


def runs_expire_stale() -> int:
    """Mark runs whose worker stopped beating as expired, and tell their conversations; return how many."""
    stale_before = timezone.now() - timedelta(seconds=settings.SWITCHBOARD["RUN_STALE_SECONDS"])
    unanswered_before = timezone.now() - timedelta(seconds=settings.SWITCHBOARD["RUN_REQUIRES_ACTION_SECONDS"])
    stale = Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.IN_PROGRESS, Run.Status.CANCELLING]).filter(
        heartbeat_at__lt=stale_before
    ) | Run.objects.filter(status=Run.Status.QUEUED, heartbeat_at__isnull=True, created_at__lt=stale_before)
    # A run waiting for the answer to an MCP server's question waits in its worker, which beats meanwhile.
    stale |= Run.objects.filter(
        status=Run.Status.REQUIRES_ACTION, metadata__has_key="elicitation", heartbeat_at__lt=stale_before
    )
    # A paused run's heartbeat is when it paused (the recorder sets it): how long it has waited for an answer.
    unanswered = Run.objects.filter(status=Run.Status.REQUIRES_ACTION, heartbeat_at__lt=unanswered_before)
    ids = list(stale.values_list("pk", flat=True))
    waiting = list(unanswered.values_list("pk", flat=True))
    if not ids and not waiting:
        return 0
    now = timezone.now()
    with transaction.atomic():
        count = Run.objects.filter(pk__in=ids, status__in=Run.ACTIVE).update(
            status=Run.Status.EXPIRED, last_error_code="expired", last_error=EXPIRED_MESSAGE, paused_state=""
        )
        count += Run.objects.filter(pk__in=waiting, status=Run.Status.REQUIRES_ACTION).update(
            status=Run.Status.EXPIRED, last_error_code="expired", last_error=UNANSWERED_MESSAGE, paused_state=""
        )
        ids += waiting
        messages = list(Message.objects.filter(run_id__in=ids, status=Message.Status.IN_PROGRESS))
        Message.objects.filter(pk__in=[m.pk for m in messages]).update(
            status=Message.Status.INCOMPLETE, completed_at=now
        )
        RunStep.objects.filter(run_id__in=ids, status=RunStep.Status.IN_PROGRESS).update(
            status=RunStep.Status.EXPIRED, completed_at=now
        )
        runs = list(Run.objects.filter(pk__in=ids, status=Run.Status.EXPIRED))
        transaction.on_commit(lambda: _expiry_announce(runs, messages, now))
    return count


def _expiry_announce(runs: list[Run], messages: list[Message], now: Any) -> None:
    """Tell each expired run's conversation, so a page left open on another process stops showing it working."""
    for run in runs:
        events = []
        for message in messages:
            if message.run_id == run.pk:
                message.status, message.completed_at = Message.Status.INCOMPLETE, now
                events.append(("thread.message.incomplete", message_object(message)))
        events.append(("thread.run.expired", run_object(run)))
        try:
            async_to_sync(events_send)(run.conversation_id, events)
        except Exception:  # the rows say it; a page that missed this learns it on its next resync
            logger.warning("Expiry of run %s could not be announced", run.pk, exc_info=True)
