"""Decisions on a run's waiting tool calls: approve or deny them, or take the outputs submitted for them.

The run resumes from its stored state once every waiting call is answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from chat.events import announce
from chat.models import Run
from chat.selectors import run_get_for_user
from chat.serializers import run_object
from chat.services.common import executor_taking_runs
from chat.services.elicitations import elicitation_outputs_submit
from core.errors import ServiceError

Decision = tuple[str, bool, str]  # (tool_call_id, approve, reason told to the model when refused)
# The longest output of a function tool kept (OpenAI's limit on a submitted tool output).
FUNCTION_OUTPUT_MAX_CHARS = 512 * 1024


def _output_decision(run: Run, tool_call_id: Any, output: Any) -> tuple[Any, bool, str, str | None]:
    """A submitted tool output: a function call's result, or for an MCP call waiting on approval "approve" (or
    anything else, the reason it is refused)."""
    if not isinstance(output, str):
        raise ServiceError("invalid_output", "A tool output must be a string.", param="output")
    if isinstance(tool_call_id, str) and run.is_function_call(tool_call_id):
        if len(output) > FUNCTION_OUTPUT_MAX_CHARS:
            raise ServiceError("invalid_output", f"A tool output is at most {FUNCTION_OUTPUT_MAX_CHARS} characters.")
        return tool_call_id, True, "", output
    approve = output.strip().lower() == "approve"
    return tool_call_id, approve, "" if approve else output, None


def _decisions_store(
    *,
    user: AbstractBaseUser,
    run_id: Any,
    conversation_id: str | None,
    param: str,
    decisions: Sequence[Decision] = (),
    outputs: Sequence[tuple[Any, Any]] = (),
) -> Run:
    """Record the user's decisions on waiting tool calls (or the outputs they submitted for them), all or none;
    queue the run once every call is answered."""
    with transaction.atomic():
        run = run_get_for_user(user=user, run_id=run_id, conversation_id=conversation_id, for_update=True)
        if run.status != Run.Status.REQUIRES_ACTION:
            raise ServiceError("run_not_paused", f"Run {run.pk} is {run.status}, not waiting for tool outputs.")
        if run.pending_elicitation is not None:
            # Its call is under way, waiting on the user: nothing to approve, and the run must not start again.
            raise ServiceError(
                "elicitation_pending",
                f"Run {run.pk} waits for the answer to a question its tool's server asked: answer that instead.",
                param=param.format(index=0),
            )
        answers = [(*decision, None) for decision in decisions] + [
            _output_decision(run, call_id, output) for call_id, output in outputs
        ]
        approvals = dict(run.metadata.get("approvals") or {})
        for index, (tool_call_id, approve, reason, output) in enumerate(answers):
            param = param.format(index=index)
            if not isinstance(tool_call_id, str):
                raise ServiceError("invalid_tool_call_id", "tool_call_id must be a string.", param=param)
            if tool_call_id not in run.pending_tool_call_ids:
                raise ServiceError(
                    "invalid_tool_call_id", f"Run {run.pk} is not waiting for tool call '{tool_call_id}'.", param=param
                )
            if tool_call_id in approvals:
                raise ServiceError(
                    "invalid_tool_call_id", f"Tool call '{tool_call_id}' was answered already.", param=param
                )
            if run.is_function_call(tool_call_id) and output is None:
                raise ServiceError(
                    "invalid_tool_call_id",
                    f"Tool call '{tool_call_id}' is a function call: submit its output, it cannot be approved.",
                    param=param,
                )
            approvals[tool_call_id] = {"approve": bool(approve), "reason": str(reason)[:2000]}
            if output is not None:
                approvals[tool_call_id]["output"] = output
        run.metadata = {**run.metadata, "approvals": approvals}
        fields = ["metadata"]
        if all(call_id in approvals for call_id in run.pending_tool_call_ids):
            run.status = Run.Status.QUEUED
            run.heartbeat_at = None
            fields += ["status", "heartbeat_at"]
        run.save(update_fields=fields)
    return run


async def run_decisions_submit(
    *,
    user: AbstractBaseUser,
    run_id: Any,
    decisions: Sequence[Decision] = (),
    outputs: Sequence[tuple[Any, Any]] = (),
    conversation_id: str | None = None,
    param: str = "tool_outputs[{index}].tool_call_id",
) -> Run:
    """Approve or deny waiting tool calls, or submit their outputs (`outputs`: (tool_call_id, output) pairs, as
    the Assistants API's submit_tool_outputs), all or none; the run resumes from its stored state once every
    call is answered. `param` names a bad call id in the refusal, as the caller's input has it. A run waiting for
    the answer to an MCP server's question takes it as the output of the call that asked."""
    executor = executor_taking_runs()
    if outputs and not decisions:
        answered = await elicitation_outputs_submit(
            user=user, run_id=run_id, outputs=outputs, conversation_id=conversation_id
        )
        if answered is not None:
            return answered
    run = await sync_to_async(_decisions_store)(
        user=user, run_id=run_id, decisions=decisions, outputs=outputs, conversation_id=conversation_id, param=param
    )
    if run.status == Run.Status.QUEUED:
        await announce(run.conversation_id, [("thread.run.queued", run_object(run))])
        executor.submit(run.pk)
    return run


async def run_approve(*, user: AbstractBaseUser, run_id: Any, tool_call_id: Any) -> Run:
    """Let a waiting tool call go ahead."""
    return await run_decisions_submit(
        user=user, run_id=run_id, decisions=[(tool_call_id, True, "")], param="tool_call_id"
    )


async def run_deny(*, user: AbstractBaseUser, run_id: Any, tool_call_id: Any, reason: str = "") -> Run:
    """Refuse a waiting tool call: it is not made, and the model is told why."""
    return await run_decisions_submit(
        user=user, run_id=run_id, decisions=[(tool_call_id, False, reason)], param="tool_call_id"
    )
