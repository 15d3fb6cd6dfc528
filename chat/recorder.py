"""The recorder: one run's stream events become rows (messages, steps, usage, audit) and Assistants v2 events.

Its tool calls' steps are kept by the part it inherits from `chat.tool_steps`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agents import ItemHelpers, custom_span
from django.conf import settings
from django.utils import timezone

from assistants.models import ModelPrice
from chat.accounting import USAGE_FIELDS, RunAccount, tool_audit
from chat.citations import annotations_find
from chat.events import outbox_for
from chat.models import Message, Run, RunStep
from chat.serializers import message_object, run_object, run_step_bounded, run_step_data
from chat.tool_steps import ToolStepRecorder, field_of
from core.models import AuditEntry
from guardrails.services import GuardrailTrip

# A streaming message's text is written this often, so a reload or a resync shows it.
FLUSH_SECONDS = 1.0
# A finished answer waiting for its last write: the message, its step, and its first write.
Finished = tuple[Message, RunStep, "asyncio.Future | None"]


class RunRecorder(ToolStepRecorder):
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
        # A finished answer (with its step and its first write), written with the run's next write and announced
        # after it: a plain turn commits once at its end, not once for its answer and again for its run.
        self.finished: Finished | None = None
        self.stopping: asyncio.Future | None = None  # the write of the run's end, once begun (`run_stop`)
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

    async def rows_save(self, *rows: tuple[Any, list[str] | None]) -> None:
        """Write rows in one transaction, with the finished answer's if one waits (`message_finish`)."""
        finished, self.finished = self.finished, None
        await self._rows_write(finished, rows)

    async def _rows_write(self, finished: Finished | None, rows: tuple[Any, ...]) -> None:
        if finished is None:
            await super().rows_save(*rows)
            return
        # Shielded: a Stop while this waits for the answer's first write must not drop its last one.
        await asyncio.shield(self._finished_save(finished, rows))

    async def _finished_save(self, finished: Finished, rows: tuple[tuple[Any, list[str] | None], ...]) -> None:
        message, step, saving = finished
        if saving is not None:
            await asyncio.wait([saving])
        # Inserted whole if the first write failed: the error, if it lasts, surfaces here.
        written = saving is None or saving.exception() is None
        await super().rows_save(
            (message, ["content", "annotations", "status", "completed_at"] if written else None),
            (step, ["status", "completed_at", *USAGE_FIELDS, "cost"] if written else None),
            *rows,
        )
        event = "completed" if message.status == Message.Status.COMPLETED else "incomplete"
        self.send(f"thread.message.{event}", message_object(message))
        self.send(f"thread.run.step.{step.status}", self.step_data(step))

    async def sent(self) -> None:
        """Wait until every event so far is out; raise what made a send fail."""
        await outbox_for(self.thread_id).flush()

    def end_span_data(self) -> dict[str, Any]:
        """What the run's `run.end` span says: how it ended, and its writes to the database."""
        return {
            "status": self.run.status,
            "error_code": self.run.last_error_code,
            "writes": self.writes,
            "writes_ms": round(self.writes_ms, 2),
        }

    def step_data(self, step: RunStep) -> dict[str, Any]:
        data = run_step_bounded(run_step_data(step, self.run), settings.SWITCHBOARD["TOOL_OUTPUT_SHOWN_CHARS"])
        progress = self.progress.get(step.tool_call_id)
        if progress is not None and step.status == RunStep.Status.IN_PROGRESS:
            data["metadata"] |= progress
        return data

    async def run_stop(self, status: str, *, audit: AuditEntry | None = None, **fields: Any) -> None:
        """The run stopped (answered, paused or ended early): its status and its usage (and the `audit` entry
        that says why, if any), in one transaction, with the finished answer's rows if they wait.

        Once begun, that write is the run's end: a Stop that lands while it is under way finds the run ending
        as it was (`end`), and its usage is counted once."""
        self.run.status = status
        for name, value in fields.items():
            setattr(self.run, name, value)
        usage = self.account.record(self.run)
        audited = [(audit, None)] if audit is not None else []
        rows = ((self.run, ["status", *fields, *USAGE_FIELDS, "cost"]), (usage, None), *audited)
        finished, self.finished = self.finished, None
        self.stopping = asyncio.ensure_future(self._stop_write(status, finished, rows))
        await asyncio.shield(self.stopping)

    async def _stop_write(self, status: str, finished: Finished | None, rows: tuple[Any, ...]) -> None:
        await self._rows_write(finished, rows)
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
        # Written while the text streams (with the answer before it, if one waits): the first delta does not wait
        # for the database. Later writes of the message wait for this one (`message_written`).
        finished, self.finished = self.finished, None
        rows = ((self.message, None), (self.message_step, None))
        self.message_saving = asyncio.ensure_future(self._rows_write(finished, rows))
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
        # Written, and announced, with the run's next write (`rows_save`): its end, or its next step.
        self.finished, self.message_saving = (message, step, self.message_saving), None

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

    async def close_open(self, *, step_status: str) -> None:
        """End whatever was still open when the run stopped early."""
        if self.message is not None:
            await self.message_finish(status=Message.Status.INCOMPLETE)
        now = timezone.now()
        for step in self.tool_steps.values():
            step.status = step_status
            step.completed_at = now
            await self.rows_save((step, ["status", "completed_at"]), (tool_audit(self.run, step), None))
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
        stopping = self.stopping
        if stopping is not None and not (stopping.done() and stopping.exception() is not None):
            await asyncio.shield(stopping)  # it was writing its end when this came (a Stop, say): that is its end
            return
        fields["paused_state"] = ""
        step_status = RunStep.Status.FAILED if status == Run.Status.FAILED else RunStep.Status.CANCELLED
        await self.close_open(step_status=step_status)
        audit = None
        if trip is not None:
            audit = trip.audit_entry(user=self.run.conversation.owner, run_id=self.run.pk, thread_id=self.thread_id)
        await self.run_stop(status, audit=audit, **fields)
