"""The one place that names conversation groups and sends events to them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from channels.layers import get_channel_layer

from chat.serializers import message_delta_object

Event = tuple[str, dict[str, Any]]
DELTA = "thread.message.delta"


# Every process's run executor listens here for requests to cancel the runs it owns.
CONTROL_GROUP = "runs.control"


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
    """A conversation's events, sent in order by a task of their own.

    Whoever adds events never waits on the channel layer: whatever piles up while a send is in flight goes out
    in the next one, and text deltas for the same message merge. An idle layer still gets every delta at once.
    """

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.pending: list[list[Any]] = []
        self.task: asyncio.Task | None = None
        self.queued = 0  # events put so far
        self.sent = 0  # events sent (or failed) so far
        self.waiters: list[tuple[int, asyncio.Future]] = []

    def put(self, event: str, data: dict[str, Any]) -> int:
        """Queue one event; return its place in the conversation's order."""
        self._raise_failure()
        self.pending.append([event, data])
        return self._wake()

    def put_delta(self, message_id: str, text: str) -> int:
        self._raise_failure()
        last = self.pending[-1] if self.pending else None
        if last is not None and last[0] == DELTA and last[1] == message_id:
            last[2].append(text)
        else:
            self.pending.append([DELTA, message_id, [text]])
        return self._wake()

    async def sent_through(self, place: int) -> None:
        """Wait until every event up to `place` is sent; raise what made its send fail."""
        if place <= self.sent:
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append((place, waiter))
        await waiter

    async def flush(self) -> None:
        """Wait until everything put so far is sent; raise what made a send fail."""
        if self.task is not None:
            await self.task

    def _raise_failure(self) -> None:
        if self.task is not None and self.task.done() and not self.task.cancelled() and self.task.exception():
            # A send failed: the next sender hears about it once, and may still report its end.
            failed, self.task = self.task, None
            failed.result()

    def _wake(self) -> int:
        self.queued += 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain(), name=f"events:{self.thread_id}")
        return self.queued

    def _settle(self, error: BaseException | None) -> None:
        self.sent = self.queued - sum(len(entry[2]) if entry[0] == DELTA else 1 for entry in self.pending)
        waiting = []
        for place, waiter in self.waiters:
            if waiter.done():
                continue
            if place > self.sent and error is None:
                waiting.append((place, waiter))
            elif error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(None)
        self.waiters = waiting

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                events = [
                    (DELTA, message_delta_object(entry[1], "".join(entry[2]))) if entry[0] == DELTA else tuple(entry)
                    for entry in batch
                ]
                await events_send(self.thread_id, events)
                self._settle(None)
        except BaseException as exc:
            self.pending = []
            self._settle(exc if isinstance(exc, Exception) else ConnectionError("The event send was cancelled."))
            raise  # kept in the registry: the next sender hears of the failure
        if _outboxes.get(self.thread_id) is self:
            del _outboxes[self.thread_id]


# One outbox per conversation in this process: everything it says goes out in the order it was said, whether
# a service announced it (a new message, a cancel) or a run's recorder reported it.
_outboxes: dict[str, Outbox] = {}


def outbox_for(thread_id: str) -> Outbox:
    outbox = _outboxes.get(thread_id)
    if outbox is None or (outbox.task is not None and outbox.task.get_loop() is not asyncio.get_running_loop()):
        outbox = _outboxes[thread_id] = Outbox(thread_id)
    return outbox


async def announce(thread_id: str, events: Sequence[Event]) -> None:
    """Tell everyone watching the conversation, in the order this process said things to it; return once sent.
    The events are queued before the first await: whatever this process says to the conversation after the
    call began follows them."""
    outbox = outbox_for(thread_id)
    place = outbox.sent
    for event, data in events:
        place = outbox.put(event, data)
    await outbox.sent_through(place)
