"""Answering an MCP server's question (elicitation): the run's owner accepts with the form's content, declines or
cancels, from the page (`elicitation.respond`) or the API (submit_tool_outputs on the waiting call).

The answer is checked against the form the server asked for and stored on the run, all or nothing; the run's
process, which holds the tool call open, takes it from there (`chat.elicitation`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from chat.elicitation import elicitation_answered, elicitation_wake
from chat.events import CONTROL_GROUP, announce
from chat.models import Run
from chat.selectors import run_get_for_user
from chat.serializers import run_object
from core.errors import ServiceError
from mcp_servers.elicitation import ACTIONS, elicitation_content_validate


def _answer_store(
    *, user: AbstractBaseUser, run_id: Any, conversation_id: str | None, elicitation_id: Any, action: Any, content: Any
) -> tuple[Run, tuple[str, dict[str, Any] | None]]:
    with transaction.atomic():
        run = run_get_for_user(user=user, run_id=run_id, conversation_id=conversation_id, for_update=True)
        asked = run.pending_elicitation
        if asked is None:
            raise ServiceError("elicitation_not_pending", f"Run {run.pk} is not waiting for an answer to a question.")
        if elicitation_id != asked["id"]:
            raise ServiceError(
                "invalid_elicitation_id",
                f"Run {run.pk} waits for an answer to '{asked['id']}'.",
                param="elicitation_id",
            )
        if action not in ACTIONS:
            raise ServiceError("invalid_action", "action must be 'accept', 'decline' or 'cancel'.", param="action")
        answer = None
        if action == "accept" and asked["mode"] == "form":
            try:
                answer = elicitation_content_validate(asked["requested_schema"], {} if content is None else content)
            except ValueError as exc:
                raise ServiceError("invalid_content", str(exc), param="content") from None
        elicitation_answered(run, action=action, content=answer)
        run.save(update_fields=["status", "metadata"])
    return run, (action, answer)


async def elicitation_respond(
    *,
    user: AbstractBaseUser,
    run_id: Any,
    elicitation_id: Any,
    action: Any,
    content: Any = None,
    conversation_id: str | None = None,
) -> Run:
    """Answer the question an MCP server asks during one of the run's tool calls; the run goes on working."""
    run, answer = await sync_to_async(_answer_store)(
        user=user,
        run_id=run_id,
        conversation_id=conversation_id,
        elicitation_id=elicitation_id,
        action=action,
        content=content,
    )
    await announce(run.conversation_id, [("thread.run.in_progress", run_object(run))])
    if not elicitation_wake(run.pk, answer):
        # The run's tool call is held open by another process.
        await get_channel_layer().group_send(CONTROL_GROUP, {"type": "elicitation.answered", "run_id": run.pk})
    return run


def _output_answer(output: Any) -> tuple[Any, Any]:
    """(action, content) from a tool output: `{"action": …, "content": {…}}` as JSON, or the action alone."""
    if not isinstance(output, str):
        raise ServiceError("invalid_output", "A tool output must be a string.", param="output")
    try:
        answer = json.loads(output)
    except ValueError:
        answer = output.strip()
    if isinstance(answer, str):
        return answer, None
    if not isinstance(answer, dict) or set(answer) - {"action", "content"}:
        raise ServiceError(
            "invalid_output",
            'Answer a question with {"action": "accept", "content": {…}}, or "decline" or "cancel".',
            param="output",
        )
    return answer.get("action"), answer.get("content")


async def elicitation_outputs_submit(
    *, user: AbstractBaseUser, run_id: Any, outputs: Sequence[tuple[Any, Any]], conversation_id: str | None = None
) -> Run | None:
    """Submitted tool outputs that answer the question a run waits on (None if the run waits on no question)."""
    run = await sync_to_async(run_get_for_user)(user=user, run_id=run_id, conversation_id=conversation_id)
    asked = run.pending_elicitation
    if asked is None:
        return None
    if len(outputs) != 1 or outputs[0][0] != asked["tool_call_id"]:
        raise ServiceError(
            "invalid_tool_call_id",
            f"Run {run.pk} waits for the answer to a question during tool call '{asked['tool_call_id']}' only.",
            param="tool_outputs",
        )
    action, content = _output_answer(outputs[0][1])
    return await elicitation_respond(
        user=user,
        run_id=run.pk,
        elicitation_id=asked["id"],
        action=action,
        content=content,
        conversation_id=conversation_id,
    )
