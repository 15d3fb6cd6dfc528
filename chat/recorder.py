"""The recorder: one run's stream events become rows (messages, steps, usage, audit) and Assistants v2 events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agents import ItemHelpers, custom_span
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from assistants.models import ModelPrice
from assistants.services import FILE_SEARCH_TOOL
from chat import tool_results
from chat.accounting import USAGE_FIELDS, RunAccount, tool_audit
from chat.citations import annotations_find, citations_of
from chat.errors import ToolCallLimit
from chat.events import outbox_for
from chat.models import Message, Run, RunStep
from chat.serializers import message_object, run_object, run_step_bounded, run_step_data, tool_call_delta
from core.models import AuditEntry
from guardrails.services import GuardrailTrip

# A streaming message's text is written this often, so a reload or a resync shows it.
FLUSH_SECONDS = 1.0
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


async def rows_save(*rows: tuple[models.Model, list[str] | None]) -> None:
    with custom_span("rows.write", {"rows": len(rows)}):
        await _rows_save_async(*rows)


def field_of(raw: Any, name: str) -> str:
    value = raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)
    return value or ""


class RunRecorder:
    """Turns one run's stream events into rows and Assistants v2 events."""

    # Shown on each answer of the run: the MCP servers it had to go without (`servers_skipped`).
    warning = ""

    def __init__(self, run: Run, *, price: ModelPrice | None = None, follows: str | None = None) -> None:
        self.run = run
        # The message its next answer follows: what it answers, else (resumed) the last one it wrote.
        self.follows = follows or run.reply_to_id
        self.account = RunAccount(price)
        self.thread_id = run.conversation_id
        self.message: Message | None = None
        self.message_step: RunStep | None = None
        self.message_saving: asyncio.Future | None = None
        self.text: list[str] = []
        self.tool_steps: dict[str, RunStep] = {}
        self.tool_started: dict[str, float] = {}
        self.tool_servers: dict[str, str] = {}
        # The file_search results this run found, by the marker an answer cites each by.
        self.cited: dict[str, str] = {}
        # Who answers: the run's assistant, until it hands the conversation off to one of its team (by name).
        self.assistant_id = run.assistant_id
        self.agent_assistants: dict[str, str] = {}
        self.functions: frozenset[str] = frozenset()
        self.steps_lock = asyncio.Lock()
        # The last progress each running tool call reported, and when its card last heard of it.
        self.progress: dict[str, dict[str, str]] = {}
        self.progress_sent: dict[str, float] = {}
        # Tasks MCP tool calls became before their steps were written, by tool name.
        self.tasks_early: dict[str, str] = {}
        self.flushed_at = 0.0
        # When the model call now under way started, until its first text arrives (time to first token).
        self.model_started: float | None = time.monotonic()

    def send(self, event: str, data: dict[str, Any]) -> None:
        # The conversation's one outbox: the run's events follow whatever announced it, in this process.
        outbox_for(self.thread_id).put(event, data)

    async def sent(self) -> None:
        """Wait until every event so far is out; raise what made a send fail."""
        with custom_span("events.broadcast", {"run_id": self.run.pk}):
            await outbox_for(self.thread_id).flush()

    def step_data(self, step: RunStep) -> dict[str, Any]:
        data = run_step_bounded(run_step_data(step, self.run), settings.SWITCHBOARD["TOOL_OUTPUT_SHOWN_CHARS"])
        progress = self.progress.get(step.tool_call_id)
        if progress is not None and step.status == RunStep.Status.IN_PROGRESS:
            data["metadata"] |= progress
        return data

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
        await rows_save((step, ["content"]))
        self.send("thread.run.step.in_progress", self.step_data(step))

    async def run_stop(self, status: str, *, audit: AuditEntry | None = None, **fields: Any) -> None:
        """The run stopped (answered, paused or ended early): its status and its usage (and the `audit` entry
        that says why, if any), in one transaction."""
        self.run.status = status
        for name, value in fields.items():
            setattr(self.run, name, value)
        usage = self.account.record(self.run)
        audited = [(audit, None)] if audit is not None else []
        await rows_save((self.run, ["status", *fields, *USAGE_FIELDS, "cost"]), (usage, None), *audited)
        self.send(f"thread.run.{status}", run_object(self.run))

    async def servers_skipped(self, *, summary: str, warning: str) -> None:
        """Record on the run which MCP servers it goes without and why, and warn on each answer it writes."""
        self.warning = warning
        self.run.metadata = {**self.run.metadata, "mcp_servers_skipped": summary}
        await self.run.asave(update_fields=["metadata"])

    async def message_start(self) -> None:
        self.message = Message(
            conversation_id=self.thread_id,
            role=Message.Role.ASSISTANT,
            run=self.run,
            assistant_id=self.assistant_id,
            status=Message.Status.IN_PROGRESS,
            metadata={"warning": self.warning} if self.warning else {},
            parent_id=self.follows,
        )
        self.follows = self.message.pk
        self.message_step = RunStep(
            run=self.run, type=RunStep.Type.MESSAGE_CREATION, message=self.message, assistant_id=self.assistant_id
        )
        # Written while the text streams: the first delta does not wait for the database. Later writes of
        # the message wait for this one (`message_written`).
        self.message_saving = asyncio.ensure_future(rows_save((self.message, None), (self.message_step, None)))
        self.text = []
        self.flushed_at = time.monotonic()
        self.send("thread.run.step.created", self.step_data(self.message_step))
        self.send("thread.message.created", message_object(self.message))
        self.send("thread.message.in_progress", message_object(self.message))

    async def message_written(self) -> bool:
        """Wait for the streaming message's first write; whether its rows are in the database now."""
        saving = self.message_saving
        if saving is None:
            return True
        await asyncio.wait([saving])  # the write goes on, and is waited for again, if this run is cancelled
        return saving.exception() is None

    async def _message_rows_finish(self, message: Message, step: RunStep) -> None:
        # Inserted whole if the first write failed: the error, if it lasts, surfaces here.
        written = await self.message_written()
        self.message_saving = None
        await rows_save(
            (message, ["content", "annotations", "status", "completed_at"] if written else None),
            (step, ["status", "completed_at", *USAGE_FIELDS, "cost"] if written else None),
        )

    async def message_delta(self, delta: str) -> None:
        if self.message is None:
            await self.message_start()
        self.text.append(delta)
        if self.model_started is not None:
            ttft_ms = round((time.monotonic() - self.model_started) * 1000, 1)
            self.model_started = None
            with custom_span("model.first_token", {"ttft_ms": ttft_ms}):
                pass
        outbox_for(self.thread_id).put_delta(self.message.id, delta)
        if time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
            self.flushed_at = time.monotonic()
            self.message.content = "".join(self.text)
            if await self.message_written():
                await self.message.asave(update_fields=["content"])

    async def message_finish(self, *, final_text: str | None = None, status: str = Message.Status.COMPLETED) -> None:
        if self.message is None:
            if not final_text:
                return
            await self.message_start()
        message, step = self.message, self.message_step
        self.message = self.message_step = None
        now = timezone.now()
        message.content = final_text if final_text is not None else "".join(self.text)
        message.annotations = annotations_find(message.content, self.cited)
        message.status = status
        message.completed_at = now
        step.status = RunStep.Status.COMPLETED if status == Message.Status.COMPLETED else RunStep.Status.CANCELLED
        step.completed_at = now
        self.account.apply(step)
        # Shielded: a Stop while this waits for the first write must not drop the answer's last one.
        await asyncio.shield(self._message_rows_finish(message, step))
        event = "completed" if status == Message.Status.COMPLETED else "incomplete"
        self.send(f"thread.message.{event}", message_object(message))
        self.send(f"thread.run.step.{step.status}", self.step_data(step))

    async def tool_called(self, raw: Any, *, parent: RunStep | None = None, assistant_id: str | None = None) -> RunStep:
        """The step of a tool call: the answering assistant's, or (`parent`) one made by the team member that
        call asked (`assistant_id`)."""
        await self.message_finish()
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

    async def pause(self, interruptions: list[Any], state: str) -> None:
        """Stop at tool calls that need the user's approval, keeping the agent's state."""
        await self.message_finish()
        raws = [item.raw_item for item in interruptions]
        calls = [
            {
                "id": field_of(raw, "call_id"),
                "type": "function",
                "function": {"name": field_of(raw, "name"), "arguments": field_of(raw, "arguments") or "{}"},
            }
            for raw in raws
        ]
        # Paused in memory first, so each step's event already says its approval is pending.
        self.run.status = Run.Status.REQUIRES_ACTION
        self.run.metadata = {
            **self.run.metadata,
            "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}},
            "paused_at": time.time(),  # how long the user took to decide goes in the resumed run's trace
            # Which calls are the caller's functions (their output is submitted), not MCP calls to approve.
            "function_calls": [call["id"] for call in calls if call["function"]["name"] in self.functions],
        }
        for raw in raws:
            announced = field_of(raw, "call_id") in self.tool_steps
            step = await self.tool_called(raw)
            if announced:
                # The same step again, now saying it waits (a snapshot, not a delta: clients replace it).
                self.send("thread.run.step.in_progress", self.step_data(step))
        # The wait for the caller's answer is timed from now (RUN_REQUIRES_ACTION_SECONDS).
        await self.run_stop(
            Run.Status.REQUIRES_ACTION, paused_state=state, metadata=self.run.metadata, heartbeat_at=timezone.now()
        )

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
        await rows_save(
            (step, ["output", "content", "server_name", "status", "error", "completed_at", "duration_ms"]),
            (tool_audit(self.run, step), None),
        )
        self.cited |= citations_of(step)
        self.send(f"thread.run.step.{step.status}", self.step_data(step))
        self.model_started = time.monotonic()  # the model is asked again once its tool calls are answered

    async def handle(self, event: Any) -> None:
        if event.type == "raw_response_event":
            kind = getattr(event.data, "type", "")
            if kind == "response.output_text.delta" and event.data.delta:
                await self.message_delta(event.data.delta)
            elif kind == "response.completed":
                # A model call ended: its usage belongs to the step it produces next, and to the run.
                self.account.model_called(getattr(event.data.response, "usage", None))
            return
        if event.type == "agent_updated_stream_event":
            # Who answers from here: the run's assistant, or the team member it handed off to (a resumed run
            # starts with whoever answered when it paused).
            self.assistant_id = self.agent_assistants.get(event.new_agent.name, self.run.assistant_id)
            return
        if event.type != "run_item_stream_event":
            return
        if event.name == "tool_called":
            await self.tool_called(event.item.raw_item)
        elif event.name == "tool_output":
            await self.tool_output(event.item)
        elif event.name == "message_output_created":
            await self.message_finish(final_text=ItemHelpers.text_message_output(event.item))
        elif event.name == "handoff_requested":
            await self.tool_called(event.item.raw_item)
        elif event.name == "handoff_occured":  # sic: the SDK's name
            await self.handed_off(event.item)

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
        await rows_save((step, ["output", "status", "completed_at", "duration_ms"]), (tool_audit(self.run, step), None))
        self.send("thread.run.step.completed", self.step_data(step))
        self.model_started = time.monotonic()

    async def close_open(self, *, step_status: str) -> None:
        """End whatever was still open when the run stopped early."""
        if self.message is not None:
            await self.message_finish(status=Message.Status.INCOMPLETE)
        now = timezone.now()
        for step in self.tool_steps.values():
            step.status = step_status
            step.completed_at = now
            await rows_save((step, ["status", "completed_at"]), (tool_audit(self.run, step), None))
            self.send(f"thread.run.step.{step_status}", self.step_data(step))
        self.tool_steps.clear()

    async def complete(self) -> None:
        """The run answered: its last message and its token usage. A run that used all of its
        max_completion_tokens, or more than its max_prompt_tokens, ends incomplete, as OpenAI's did: its answer
        may be cut short."""
        await self.message_finish()
        overrides = self.run.overrides or {}
        limit = overrides.get("max_completion_tokens")
        if limit and self.run.completion_tokens + self.account.used["completion_tokens"] >= limit:
            await self.run_stop(Run.Status.INCOMPLETE, incomplete_reason="max_completion_tokens", paused_state="")
            return
        limit = overrides.get("max_prompt_tokens")
        if limit and self.run.prompt_tokens + self.account.used["prompt_tokens"] > limit:
            await self.run_stop(Run.Status.INCOMPLETE, incomplete_reason="max_prompt_tokens", paused_state="")
            return
        await self.run_stop(Run.Status.COMPLETED, completed_at=timezone.now(), paused_state="")

    async def end(self, status: str, *, trip: GuardrailTrip | None = None, **fields: Any) -> None:
        """The run stopped early (failed, cancelled, expired, incomplete): close what is open, record why (in
        the audit log too, when a guardrail stopped it)."""
        fields["paused_state"] = ""
        step_status = RunStep.Status.FAILED if status == Run.Status.FAILED else RunStep.Status.CANCELLED
        await self.close_open(step_status=step_status)
        audit = None
        if trip is not None:
            audit = trip.audit_entry(user=self.run.conversation.owner, run_id=self.run.pk, thread_id=self.thread_id)
        await self.run_stop(status, audit=audit, **fields)
