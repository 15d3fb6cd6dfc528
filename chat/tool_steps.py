"""A run's tool calls as steps: each call's step, its progress, its task, its output and its audit entry; and the
writing of rows that the whole recorder shares."""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from assistants.services import FILE_SEARCH_TOOL
from chat import tool_results
from chat.accounting import tool_audit
from chat.citations import citations_of
from chat.errors import ToolCallLimit
from chat.models import RunStep
from chat.serializers import tool_call_delta

# A tool's progress reaches its card at most this often.
PROGRESS_SECONDS = 0.25


def _rows_save(*rows: tuple[models.Model, list[str] | None]) -> None:
    """Insert (no fields) or update rows in one transaction: one commit, one trip to the database thread."""
    with transaction.atomic():
        for row, fields in rows:
            if fields is None:
                row.save(force_insert=True)
            else:
                row.save(update_fields=fields)


_rows_save_async = sync_to_async(_rows_save)


def field_of(raw: Any, name: str) -> str:
    value = raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)
    return value or ""


class ToolStepRecorder:
    """The tool-call half of a run's recorder (`chat.recorder.RunRecorder`, which holds the run's state)."""

    # The run's writes so far and the time they took, which its `run.end` span carries: a span per write would
    # cost a run more than the writes tell.
    writes = 0
    writes_ms = 0.0

    async def rows_save(self, *rows: tuple[models.Model, list[str] | None]) -> None:
        if not rows:
            return
        started = time.monotonic()
        try:
            await _rows_save_async(*rows)
        finally:
            self.writes += 1
            self.writes_ms += (time.monotonic() - started) * 1000

    def _tool_step_named(self, name: str) -> RunStep | None:
        """The running call's step of an MCP tool, by the tool's name on its server (the model may see it prefixed)."""
        return next(
            (s for s in self.tool_steps.values() if s.tool_name == name or s.tool_name.endswith(f"_{name}")), None
        )

    def tool_progress(self, name: str, progress: float, total: float | None, message: str | None) -> None:
        """An MCP tool reported progress: its card's bar moves (at most every PROGRESS_SECONDS, and at the end)."""
        step = self._tool_step_named(name)
        if step is None:
            return
        now = time.monotonic()
        last = self.progress_sent.get(step.tool_call_id, 0.0)
        if now - last < PROGRESS_SECONDS and (total is None or progress < total):
            return
        self.progress_sent[step.tool_call_id] = now
        # Strings, as every metadata value of the wire format.
        self.progress[step.tool_call_id] = {"progress": f"{progress:g}", "progress_message": (message or "")[:200]}
        if total is not None:
            self.progress[step.tool_call_id]["progress_total"] = f"{total:g}"
        self.send("thread.run.step.in_progress", self.step_data(step))

    async def tool_task(self, name: str, task_id: str) -> None:
        """An MCP tool call became a task on its server: its step keeps the task's id (a `task` part, kept beside the
        result's parts), which its events carry in `metadata.content`."""
        step = self._tool_step_named(name)
        if step is None:
            self.tasks_early[name] = task_id  # the call ran ahead of its step's writing: the step takes it then
            return
        await self._task_keep(step, task_id)

    async def _task_keep(self, step: RunStep, task_id: str) -> None:
        step.content = [{"type": "task", "task_id": task_id}]
        await self.rows_save((step, ["content"]))
        self.send("thread.run.step.in_progress", self.step_data(step))

    async def tool_called(self, raw: Any, *, parent: RunStep | None = None, assistant_id: str | None = None) -> RunStep:
        """The step of a tool call: the answering assistant's, or (`parent`) one made by the team member that
        call asked (`assistant_id`)."""
        await self.message_finish()
        await self.rows_save()  # the answer before the call is written and announced before the call's step
        call_id, name = field_of(raw, "call_id"), field_of(raw, "name")
        # A team member's work is reported from its own task, beside the run's stream: one step per call.
        async with self.steps_lock:
            if call_id in self.tool_steps:
                return self.tool_steps[call_id]
            self.account.tool_calls += 1
            if self.account.tool_calls > settings.SWITCHBOARD["RUN_MAX_TOOL_CALLS"]:
                raise ToolCallLimit
            step = await RunStep.objects.acreate(
                run=self.run,
                type=RunStep.Type.TOOL_CALLS,
                tool_call_id=call_id,
                tool_name=name,
                server_name=self.tool_servers.get(name, ""),
                arguments=field_of(raw, "arguments") or "{}",
                assistant_id=assistant_id or self.assistant_id,
                parent=parent,
                **({} if parent is not None else self.account.take()),
            )
        self.tool_steps[step.tool_call_id] = step
        self.tool_started[step.tool_call_id] = time.monotonic()
        self.send("thread.run.step.created", self.step_data(step))
        self.send("thread.run.step.in_progress", self.step_data(step))
        for name in [n for n in self.tasks_early if step.tool_name == n or step.tool_name.endswith(f"_{n}")][:1]:
            await self._task_keep(step, self.tasks_early.pop(name))
        # The call itself as a step delta, as OpenAI streams it (clients announce a tool call from it).
        self.send("thread.run.step.delta", tool_call_delta(step))
        return step

    async def member_event(self, payload: dict[str, Any]) -> None:
        """An event of the run of a team member asked as a tool: its tool calls become steps under the call
        that asked it, in that assistant's name."""
        event, asking = payload["event"], payload.get("tool_call")
        if event.type != "run_item_stream_event" or asking is None:
            return
        if event.name == "tool_called":
            # The asking call's step may not be written yet: the member's run reports from its own task.
            parent = await self.tool_called(asking)
            member = self.agent_assistants.get(payload["agent"].name)
            await self.tool_called(event.item.raw_item, parent=parent, assistant_id=member)
        elif event.name == "tool_output":
            await self.tool_output(event.item)

    async def tool_steps_resume(self) -> None:
        """Pick up the tool steps a paused run left waiting, so their outputs land on them (and what its searches
        found, for the answer's citations)."""
        async for step in RunStep.objects.filter(run=self.run, tool_name=FILE_SEARCH_TOOL, server_name=""):
            self.cited |= citations_of(step)
        async for step in RunStep.objects.filter(
            run=self.run, type=RunStep.Type.TOOL_CALLS, status=RunStep.Status.IN_PROGRESS
        ):
            self.tool_steps[step.tool_call_id] = step
            self.tool_started[step.tool_call_id] = time.monotonic()

    async def tool_output(self, item: Any) -> None:
        raw = item.raw_item
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", "")
        step = self.tool_steps.pop(call_id, None)
        if step is None:
            return
        tool_results.step_result_apply(step, item.output, (item.custom_data or {}).get("parts"))
        output = step.output
        step.server_name = (item.custom_data or {}).get("server") or step.server_name
        if self.run.approval_of(call_id) == "denied":
            step.status = RunStep.Status.CANCELLED
        elif self.run.is_function_call(call_id):
            step.status = RunStep.Status.COMPLETED  # the caller's own output, whatever it says
        elif item.custom_data is None or item.custom_data.get("is_error"):
            # No outcome means the call raised (timed out, refused) before the server answered.
            step.status = RunStep.Status.FAILED
            step.error = output
        else:
            step.status = RunStep.Status.COMPLETED
        step.completed_at = timezone.now()
        step.duration_ms = int((time.monotonic() - self.tool_started.pop(call_id, time.monotonic())) * 1000)
        await self.rows_save(
            (step, ["output", "content", "server_name", "status", "error", "completed_at", "duration_ms"]),
            (tool_audit(self.run, step), None),
        )
        self.cited |= citations_of(step)
        self.send(f"thread.run.step.{step.status}", self.step_data(step))
        self.model_started = time.monotonic()  # the model is asked again once its tool calls are answered

    async def handed_off(self, item: Any) -> None:
        """The conversation passed to another assistant: the handoff's step says to whom, and the answers that
        follow are that assistant's."""
        name = item.target_agent.name
        self.assistant_id = self.agent_assistants.get(name, self.assistant_id)
        call_id = field_of(item.raw_item, "call_id")
        step = self.tool_steps.pop(call_id, None)
        if step is None:
            return
        step.output = f"Handed off to {name}."
        step.status = RunStep.Status.COMPLETED
        step.completed_at = timezone.now()
        step.duration_ms = int((time.monotonic() - self.tool_started.pop(call_id, time.monotonic())) * 1000)
        await self.rows_save(
            (step, ["output", "status", "completed_at", "duration_ms"]), (tool_audit(self.run, step), None)
        )
        self.send("thread.run.step.completed", self.step_data(step))
        self.model_started = time.monotonic()
