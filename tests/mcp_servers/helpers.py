"""Drive real turns through the chat WebSocket, as a browser would."""

from __future__ import annotations

from typing import Any

from tests.ws import collect_until, ws_connect

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


async def turn(user, conversation, content: str, *, timeout: float = 30) -> list[dict[str, Any]]:
    """Send one message and return every frame up to the run's end."""
    ws = await ws_connect(conversation.pk, user)
    try:
        await ws.send_json_to({"type": "message.create", "content": content})
        return await collect_until(ws, *TERMINAL, timeout=timeout)
    finally:
        await ws.disconnect()


def tool_steps(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finished tool-call steps of a turn (completed or failed)."""
    return [
        f["data"]
        for f in frames
        if f["event"] in ("thread.run.step.completed", "thread.run.step.failed") and f["data"]["type"] == "tool_calls"
    ]


def tool_output(frames: list[dict[str, Any]]) -> str:
    return tool_steps(frames)[0]["step_details"]["tool_calls"][0]["function"]["output"]


def answer(frames: list[dict[str, Any]]) -> str:
    deltas = [f["data"] for f in frames if f["event"] == "thread.message.delta"]
    return "".join(d["delta"]["content"][0]["text"]["value"] for d in deltas)
