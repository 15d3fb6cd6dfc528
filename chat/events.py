"""The one place that names conversation groups and sends events to them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from channels.layers import get_channel_layer

from chat.serializers import message_delta_object

Event = tuple[str, dict[str, Any]]
DELTA = "thread.message.delta"


def conversation_group(thread_id: str) -> str:
    return f"conversation.{thread_id}"


async def events_send(thread_id: str, events: Sequence[Event]) -> None:
    """Broadcast Assistants v2 stream events, in order and in one message, to everyone watching the conversation."""
    layer = get_channel_layer()
    if layer is None or not events:
        return
    await layer.group_send(conversation_group(thread_id), {"type": "run.event", "events": [list(e) for e in events]})


async def event_send(thread_id: str, event: str, data: dict[str, Any]) -> None:
    await events_send(thread_id, [(event, data)])


def events_of(message: dict[str, Any]) -> list[Event]:
    """The events in one group message, for every reader of the conversation group."""
    return [(event, data) for event, data in message.get("events") or ()]


class Outbox:
    """One run's events, sent in order by a task of their own.

    The run never waits on the channel layer: whatever piles up while a send is in flight goes out in the
    next one, and text deltas for the same message merge. An idle layer still gets every delta at once.
    """

    def __init__(self, thread_id: str, *, after: asyncio.Future | None = None) -> None:
        self.thread_id = thread_id
        self.pending: list[list[Any]] = []
        self.task: asyncio.Task | None = None
        self.after = after  # events sent elsewhere that go first; their failure is their sender's to report

    def put(self, event: str, data: dict[str, Any]) -> None:
        self._raise_failure()
        self.pending.append([event, data])
        self._wake()

    def put_delta(self, message_id: str, text: str) -> None:
        self._raise_failure()
        last = self.pending[-1] if self.pending else None
        if last is not None and last[0] == DELTA and last[1] == message_id:
            last[2].append(text)
        else:
            self.pending.append([DELTA, message_id, [text]])
        self._wake()

    async def flush(self) -> None:
        """Wait until everything put so far is sent; raise what made a send fail."""
        if self.task is not None:
            await self.task

    def _raise_failure(self) -> None:
        if self.task is not None and self.task.done() and not self.task.cancelled() and self.task.exception():
            # A send failed: the run hears about it once, at its next event, and may still report its end.
            failed, self.task = self.task, None
            failed.result()

    def _wake(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain(), name=f"events:{self.thread_id}")

    async def _drain(self) -> None:
        if self.after is not None:
            await asyncio.wait([self.after])
            self.after = None
        while self.pending:
            batch, self.pending = self.pending, []
            events = [
                (DELTA, message_delta_object(entry[1], "".join(entry[2]))) if entry[0] == DELTA else tuple(entry)
                for entry in batch
            ]
            await events_send(self.thread_id, events)
