"""The one place that names conversation groups and sends events to them."""

from __future__ import annotations

from typing import Any

from channels.layers import get_channel_layer


def conversation_group(thread_id: str) -> str:
    return f"conversation.{thread_id}"


async def event_send(thread_id: str, event: str, data: dict[str, Any]) -> None:
    """Broadcast one Assistants v2 stream event to everyone watching the conversation."""
    layer = get_channel_layer()
    if layer is None:
        return
    await layer.group_send(conversation_group(thread_id), {"type": "run.event", "event": event, "data": data})
