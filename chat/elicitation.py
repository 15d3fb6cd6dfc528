"""A run's questions from its MCP servers (elicitation): the run waits as `requires_action` while its owner answers.

The question comes in the middle of a tool call, and the call stays open meanwhile: the run's task waits in
this process for the answer, which any process may take (`chat.services.elicitation_respond`). The pending
question is kept on the run (its metadata), so a reloaded page shows the form again; the run's required action
names the waiting call, with the question beside it, as the API's callers know it from function calls.

An answer that does not come within ELICITATION_TIMEOUT_SECONDS cancels the question: the server hears
`cancel`, and the call and the run go on.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from chat.models import Run, RunStep
from chat.recorder import RunRecorder
from chat.serializers import run_object

logger = logging.getLogger(__name__)

Answer = tuple[str, dict[str, Any] | None]  # (action, content)
# How often a waiting run reads whether its answer came, should the word from another process be lost.
RECHECK_SECONDS = 5.0
# How long a question waits for the tool call's step to be recorded (the call starts as the step is written).
STEP_WAIT_SECONDS = 5.0

# The runs of this process waiting for an answer, by run id.
_waiting: dict[str, asyncio.Future] = {}


def elicitation_wake(run_id: str, answer: Answer | None = None) -> bool:
    """Hand a run of this process its answer (None: read it from the run); False if no run here waits."""
    future = _waiting.get(run_id)
    if future is None or future.done():
        return False
    future.set_result(answer)
    return True


def elicitation_answered(run: Run, *, action: str, content: dict[str, Any] | None) -> None:
    """Put the answer on the waiting run (unsaved): it goes on working, its owner's decision taken."""
    run.status = Run.Status.IN_PROGRESS
    metadata = {key: value for key, value in run.metadata.items() if key != "required_action"}
    metadata["elicitation"] = {**metadata["elicitation"], "answer": {"action": action, "content": content}}
    run.metadata = metadata


def _answer_of(run_id: str, elicitation_id: str) -> Answer | None:
    """The answer stored for the question, if any; `cancel` if the run stopped waiting without one."""
    run = Run.objects.filter(pk=run_id).only("status", "metadata").first()
    if run is None:
        return "cancel", None
    asked = (run.metadata or {}).get("elicitation") or {}
    if asked.get("id") == elicitation_id and "answer" in asked:
        return asked["answer"]["action"], asked["answer"]["content"]
    if run.status != Run.Status.REQUIRES_ACTION:
        return "cancel", None
    return None


def _timed_out(run_id: str, elicitation_id: str) -> tuple[Answer, Run | None]:
    """Cancel the unanswered question (unless an answer came at the same moment); the run, if it moved on."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        asked = (run.metadata or {}).get("elicitation") or {} if run is not None else {}
        if run is None or asked.get("id") != elicitation_id:
            return ("cancel", None), None
        if "answer" in asked:
            return (asked["answer"]["action"], asked["answer"]["content"]), None
        if run.status != Run.Status.REQUIRES_ACTION:
            return ("cancel", None), None
        elicitation_answered(run, action="cancel", content=None)
        run.save(update_fields=["status", "metadata"])
        return ("cancel", None), run


class RunQuestions:
    """Asks a run's owner what its MCP servers ask, one question at a time."""

    def __init__(self, recorder: RunRecorder, deadline: asyncio.Timeout | None = None) -> None:
        self.recorder = recorder
        self.deadline = deadline  # the run's own time limit: the wait for an answer does not count
        self.lock = asyncio.Lock()

    async def ask(self, tool_name: str, request: dict[str, Any]) -> Answer:
        async with self.lock:
            return await self._ask(tool_name, request)

    async def _step_of(self, tool_name: str) -> RunStep | None:
        """The step of the call that asks (the newest of that tool's calls under way)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + STEP_WAIT_SECONDS
        while True:
            steps = [
                step
                for step in self.recorder.tool_steps.values()
                if step.tool_name == tool_name or step.tool_name.endswith(f"_{tool_name}")
            ]
            if steps or loop.time() >= until:
                return steps[-1] if steps else None
            await asyncio.sleep(0.05)  # the run's stream writes the step as the call starts

    async def _ask(self, tool_name: str, request: dict[str, Any]) -> Answer:
        run, recorder = self.recorder.run, self.recorder
        step = await self._step_of(tool_name)
        if step is None:
            logger.warning("Run %s: a question during a call of %s has no step to show it on", run.pk, tool_name)
            return "cancel", None
        timeout = settings.SWITCHBOARD["ELICITATION_TIMEOUT_SECONDS"]
        asked = {
            "id": f"elic_{secrets.token_hex(12)}",
            "tool_call_id": step.tool_call_id,
            "server": step.server_name,
            **request,
            "expires_at": int(time.time() + timeout),
        }
        call = {
            "id": step.tool_call_id,
            "type": "function",
            "function": {"name": step.tool_name, "arguments": step.arguments or "{}"},
            "elicitation": asked,
        }
        before = run.metadata
        waiting = {
            **before,
            "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [call]}},
            "elicitation": asked,
        }
        # Only a run still under way asks: one being stopped cancels the question at once.
        if not await Run.objects.filter(pk=run.pk, status=Run.Status.IN_PROGRESS).aupdate(
            status=Run.Status.REQUIRES_ACTION, metadata=waiting
        ):
            return "cancel", None
        run.status, run.metadata = Run.Status.REQUIRES_ACTION, waiting
        loop = asyncio.get_running_loop()
        future = _waiting[run.pk] = loop.create_future()
        recorder.send("thread.run.step.in_progress", recorder.step_data(step))
        recorder.send("thread.run.requires_action", run_object(run))
        # The run's clock stops while its owner reads and answers.
        left = self.deadline.when() - loop.time() if self.deadline is not None and self.deadline.when() else None
        if left is not None:
            self.deadline.reschedule(None)
        answered = False
        try:
            answer, moved_on = await self._answer(future, asked["id"], timeout)
            answered = True
        finally:
            _waiting.pop(run.pk, None)
            if left is not None and not self.deadline.expired():
                self.deadline.reschedule(loop.time() + max(left, 0.0))
            run.status, run.metadata = Run.Status.IN_PROGRESS, before
            if not answered:
                # The call ended unanswered (the run was stopped, or the server withdrew its question).
                await asyncio.shield(self._withdrawn(before))
        await Run.objects.filter(pk=run.pk).aupdate(metadata=before)
        if moved_on is not None:
            recorder.send("thread.run.in_progress", run_object(run))
        recorder.send("thread.run.step.in_progress", recorder.step_data(step))
        return answer

    async def _answer(self, future: asyncio.Future, elicitation_id: str, seconds: float) -> tuple[Answer, Run | None]:
        """The owner's answer, or `cancel` once the time is up; and the run, if this put it back to work."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (remaining := until - loop.time()) > 0:
            try:
                answer = await asyncio.wait_for(asyncio.shield(future), timeout=min(remaining, RECHECK_SECONDS))
            except TimeoutError:
                answer = None
            if answer is None:  # woken by another process, or time to look again
                answer = await sync_to_async(_answer_of)(self.recorder.run.pk, elicitation_id)
            if answer is not None:
                return (answer[0], answer[1]), None
            if future.done():
                future = _waiting[self.recorder.run.pk] = loop.create_future()
        return await sync_to_async(_timed_out)(self.recorder.run.pk, elicitation_id)

    async def _withdrawn(self, before: dict[str, Any]) -> None:
        run = self.recorder.run
        await Run.objects.filter(pk=run.pk).aupdate(metadata=before)
        if await Run.objects.filter(pk=run.pk, status=Run.Status.REQUIRES_ACTION).aupdate(
            status=Run.Status.IN_PROGRESS
        ):
            self.recorder.send("thread.run.in_progress", run_object(run))
