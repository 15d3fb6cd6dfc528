"""Runs streamed as Server-Sent Events, in the same event vocabulary the WebSocket carries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.http import StreamingHttpResponse

from chat.events import conversation_group, events_of
from chat.models import Run
from chat.serializers import run_object
from chat.services import SETTLED_STATUSES

# With no event for this long, look at the run itself: its worker may have died without a word.
IDLE_CHECK_SECONDS = 15.0


@dataclass
class Subscription:
    layer: Any
    channel: str
    group: str

    async def close(self) -> None:
        await self.layer.group_discard(self.group, self.channel)


async def subscribe(thread_id: str) -> Subscription:
    """Listen to a thread's events; call before starting the run, so no event is missed."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    subscription = Subscription(layer, channel, conversation_group(thread_id))
    await layer.group_add(subscription.group, channel)
    return subscription


def sse(event: str, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n"


def _settles(event: str, data: dict[str, Any], run_id: str) -> bool:
    return (
        event.startswith("thread.run.")
        and data.get("id") == run_id
        and event.removeprefix("thread.run.") in SETTLED_STATUSES
    )


async def _events(subscription: Subscription, run_id: str) -> AsyncIterator[str]:
    try:
        while True:
            try:
                async with asyncio.timeout(IDLE_CHECK_SECONDS):
                    message = await subscription.layer.receive(subscription.channel)
            except TimeoutError:
                run = await database_sync_to_async(Run.objects.get)(pk=run_id)  # the connection goes back
                if run.status in SETTLED_STATUSES:
                    yield sse(f"thread.run.{run.status}", run_object(run))
                    break
                continue
            events = events_of(message)
            for event, data in events:
                yield sse(event, data)
            if any(_settles(event, data, run_id) for event, data in events):
                break
        yield sse("done", "[DONE]")
    finally:
        await subscription.close()


def stream_response(subscription: Subscription, run_id: str) -> StreamingHttpResponse:
    """Stream the run's events until it ends or waits for a tool approval, then `done`."""
    response = StreamingHttpResponse(_events(subscription, run_id), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # Proxies such as nginx would otherwise hold events back until the buffer fills.
    response["X-Accel-Buffering"] = "no"
    return response
