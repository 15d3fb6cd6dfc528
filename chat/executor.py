"""The run executor: one process-owned asyncio task per run.

A run's task belongs to the event loop, not to the socket that asked for it, so a closed tab
neither stops nor loses a run. Every stream event becomes rows and a broadcast.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import json
import logging
import os
import secrets
import socket
import sys
import time
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agents import ItemHelpers, RunConfig, Runner, RunState
from agents.exceptions import MaxTurnsExceeded
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from assistants.services import assistant_agent_build
from chat.errors import ServiceError, error_describe
from chat.events import Outbox, event_send
from chat.models import Message, Run, RunStep
from chat.selectors import conversation_model_input
from chat.serializers import message_object, run_object, run_step_data
from core.audit import audit_entry, tool_arguments_audited
from core.models import AuditEntry
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool

logger = logging.getLogger(__name__)

USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
DENIED_MESSAGE = "The user refused this tool call."
# A streaming message's text is written this often, so a reload or a resync shows it.
FLUSH_SECONDS = 1.0
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _rows_save(*rows: tuple[models.Model, list[str] | None]) -> None:
    """Insert (no fields) or update rows in one transaction: one commit, one trip to the database thread."""
    with transaction.atomic():
        for row, fields in rows:
            if fields is None:
                row.save(force_insert=True)
            else:
                row.save(update_fields=fields)


rows_save = sync_to_async(_rows_save)


@dataclass
class RunStart:
    run: Run
    servers: list[MCPServer] = field(default_factory=list)
    model_input: list[Any] | None = None
    error: Exception | None = None  # reading failed after the claim: the run fails with it


def _run_start(run_id: str, loaded: Run | None) -> RunStart | None:
    """Claim a queued run and read what it starts from (its MCP servers, the model's input) in one trip to
    the database thread. None if it was not ours to claim."""
    now = timezone.now()
    claim = {"status": Run.Status.IN_PROGRESS, "started_at": now, "worker": WORKER_ID, "heartbeat_at": now}
    if not Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(**claim):
        return None
    if loaded is not None:
        run = loaded
        for name, value in claim.items():
            setattr(run, name, value)
    else:
        run = Run.objects.select_related("assistant__provider", "conversation__owner").get(pk=run_id)
    start = RunStart(run)
    try:
        if run.assistant is not None:
            start.servers = list(run.assistant.mcp_servers.filter(enabled=True).order_by("name"))
        if not run.paused_state:
            start.model_input = conversation_model_input(conversation_id=run.conversation_id)
    except Exception as exc:  # noqa: BLE001 - recorded as the run's failure by the caller
        start.error = exc
    return start


class ToolCallLimit(Exception):
    """The run asked for more tool calls than one run may make."""


def _field(raw: Any, name: str) -> str:
    value = raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)
    return value or ""


def _output_text(output: Any) -> str:
    """Flatten a tool's output (text, content parts, or anything JSON) into text."""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and output:
        return "\n".join(_output_text(part) for part in output)
    text = output.get("text") if isinstance(output, dict) else getattr(output, "text", None)
    if isinstance(text, str):
        return text
    try:
        return json.dumps(output, default=str)
    except TypeError:
        return str(output)


class RunRecorder:
    """Turns one run's stream events into rows and Assistants v2 events."""

    def __init__(self, run: Run, *, after: asyncio.Future | None = None) -> None:
        self.run = run
        self.thread_id = run.conversation_id
        self.outbox = Outbox(self.thread_id, after=after)
        self.message: Message | None = None
        self.message_step: RunStep | None = None
        self.message_saving: asyncio.Future | None = None
        self.text: list[str] = []
        self.tool_steps: dict[str, RunStep] = {}
        self.tool_started: dict[str, float] = {}
        self.tool_servers: dict[str, str] = {}
        self.pending_usage: Any = None
        self.flushed_at = 0.0
        self.tool_calls = 0

    def send(self, event: str, data: dict[str, Any]) -> None:
        self.outbox.put(event, data)

    def step_data(self, step: RunStep) -> dict[str, Any]:
        return run_step_data(step, self.run)

    async def run_status(self, status: str, **fields: Any) -> None:
        self.run.status = status
        for name, value in fields.items():
            setattr(self.run, name, value)
        await self.run.asave(update_fields=["status", *fields])
        self.send(f"thread.run.{status}", run_object(self.run))

    async def message_start(self) -> None:
        self.message = Message(
            conversation_id=self.thread_id,
            role=Message.Role.ASSISTANT,
            run=self.run,
            assistant_id=self.run.assistant_id,
            status=Message.Status.IN_PROGRESS,
        )
        self.message_step = RunStep(run=self.run, type=RunStep.Type.MESSAGE_CREATION, message=self.message)
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
            (message, ["content", "status", "completed_at"] if written else None),
            (step, ["status", "completed_at", *USAGE_FIELDS] if written else None),
        )

    async def message_delta(self, delta: str) -> None:
        if self.message is None:
            await self.message_start()
        self.text.append(delta)
        self.outbox.put_delta(self.message.id, delta)
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
        message.status = status
        message.completed_at = now
        step.status = RunStep.Status.COMPLETED if status == Message.Status.COMPLETED else RunStep.Status.CANCELLED
        step.completed_at = now
        self.usage_apply(step)
        # Shielded: a Stop while this waits for the first write must not drop the answer's last one.
        await asyncio.shield(self._message_rows_finish(message, step))
        event = "completed" if status == Message.Status.COMPLETED else "incomplete"
        self.send(f"thread.message.{event}", message_object(message))
        self.send(f"thread.run.step.{step.status}", self.step_data(step))

    async def tool_called(self, raw: Any) -> RunStep:
        await self.message_finish()
        call_id, name = _field(raw, "call_id"), _field(raw, "name")
        if call_id in self.tool_steps:
            return self.tool_steps[call_id]
        self.tool_calls += 1
        if self.tool_calls > settings.SWITCHBOARD["RUN_MAX_TOOL_CALLS"]:
            raise ToolCallLimit
        step = await RunStep.objects.acreate(
            run=self.run,
            type=RunStep.Type.TOOL_CALLS,
            tool_call_id=call_id,
            tool_name=name,
            server_name=self.tool_servers.get(name, ""),
            arguments=_field(raw, "arguments") or "{}",
            **self.usage_take(),
        )
        self.tool_steps[step.tool_call_id] = step
        self.tool_started[step.tool_call_id] = time.monotonic()
        self.send("thread.run.step.created", self.step_data(step))
        self.send("thread.run.step.in_progress", self.step_data(step))
        return step

    async def tool_steps_resume(self) -> None:
        """Pick up the tool steps a paused run left waiting, so their outputs land on them."""
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
                "id": _field(raw, "call_id"),
                "type": "function",
                "function": {"name": _field(raw, "name"), "arguments": _field(raw, "arguments") or "{}"},
            }
            for raw in raws
        ]
        # Paused in memory first, so each step's event already says its approval is pending.
        self.run.status = Run.Status.REQUIRES_ACTION
        self.run.metadata = {
            **self.run.metadata,
            "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}},
        }
        for raw in raws:
            announced = _field(raw, "call_id") in self.tool_steps
            step = await self.tool_called(raw)
            if announced:
                self.send("thread.run.step.delta", self.step_data(step))
        await self.run_status(Run.Status.REQUIRES_ACTION, paused_state=state, metadata=self.run.metadata)

    async def tool_output(self, item: Any) -> None:
        raw = item.raw_item
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", "")
        step = self.tool_steps.pop(call_id, None)
        if step is None:
            return
        output = _output_text(item.output)
        step.output = output
        step.server_name = (item.custom_data or {}).get("server") or step.server_name
        if self.run.approval_of(call_id) == "denied":
            step.status = RunStep.Status.CANCELLED
        elif item.custom_data is None or item.custom_data.get("is_error"):
            # No outcome means the call raised (timed out, refused) before the server answered.
            step.status = RunStep.Status.FAILED
            step.error = output
        else:
            step.status = RunStep.Status.COMPLETED
        step.completed_at = timezone.now()
        step.duration_ms = int((time.monotonic() - self.tool_started.pop(call_id, time.monotonic())) * 1000)
        await rows_save(
            (step, ["output", "server_name", "status", "error", "completed_at", "duration_ms"]),
            (self.tool_audit(step), None),
        )
        self.send(f"thread.run.step.{step.status}", self.step_data(step))

    def tool_audit(self, step: RunStep) -> AuditEntry:
        """The audit entry of a tool call that ended, however it ended."""
        try:
            arguments = json.loads(step.arguments or "{}")
        except ValueError:
            arguments = {}
        denied = self.run.approval_of(step.tool_call_id) == "denied"
        return audit_entry(
            user=self.run.conversation.owner,
            action=AuditEntry.Action.TOOL_CALL,
            target_type="tool",
            target_id=step.tool_call_id,
            target_name=step.tool_name,
            details={
                "assistant": self.run.assistant_id,
                "server": step.server_name,
                "thread": self.thread_id,
                "run": self.run.pk,
                "outcome": "denied" if denied else step.status,
                "duration_ms": step.duration_ms,
                **tool_arguments_audited(arguments),
            },
        )

    def usage_take(self) -> dict[str, int]:
        """The usage of the model call that produced the next step, once."""
        usage, self.pending_usage = self.pending_usage, None
        if usage is None:
            return {}
        return {
            "prompt_tokens": usage.input_tokens or 0,
            "completion_tokens": usage.output_tokens or 0,
            "total_tokens": usage.total_tokens or 0,
        }

    def usage_apply(self, step: RunStep) -> None:
        for name, value in self.usage_take().items():
            setattr(step, name, getattr(step, name) + value)

    async def handle(self, event: Any) -> None:
        if event.type == "raw_response_event":
            kind = getattr(event.data, "type", "")
            if kind == "response.output_text.delta" and event.data.delta:
                await self.message_delta(event.data.delta)
            elif kind == "response.completed":
                # A model call ended: its usage belongs to the step it produces next.
                self.pending_usage = getattr(event.data.response, "usage", None)
            return
        if event.type != "run_item_stream_event":
            return
        if event.name == "tool_called":
            await self.tool_called(event.item.raw_item)
        elif event.name == "tool_output":
            await self.tool_output(event.item)
        elif event.name == "message_output_created":
            await self.message_finish(final_text=ItemHelpers.text_message_output(event.item))

    async def close_open(self, *, step_status: str) -> None:
        """End whatever was still open when the run stopped early."""
        if self.message is not None:
            await self.message_finish(status=Message.Status.INCOMPLETE)
        now = timezone.now()
        for step in self.tool_steps.values():
            step.status = step_status
            step.completed_at = now
            await rows_save((step, ["status", "completed_at"]), (self.tool_audit(step), None))
            self.send(f"thread.run.step.{step_status}", self.step_data(step))
        self.tool_steps.clear()


CONTROL_GROUP = "runs.control"


class Executor:
    """Owns the runs this process executes, for one event loop."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self.accepting = True
        # Runs cut short by a shutdown end as expired, not cancelled: nobody asked them to stop.
        self.expiring: set[str] = set()
        self._heartbeat: asyncio.Task | None = None
        self._control: asyncio.Task | None = None
        # Past this many runs at once, the rest wait their turn as `queued`: a thousand runs sharing the CPU
        # would all finish late, where a bounded number finish one after another.
        limit = settings.SWITCHBOARD["RUNS_CONCURRENT_PER_PROCESS"]
        self.slots = asyncio.Semaphore(limit) if limit > 0 else contextlib.nullcontext()

    def submit(self, run_id: str, *, loaded: Run | None = None, after: asyncio.Future | None = None) -> asyncio.Task:
        """Start the run in its own task; `loaded` is the queued run just stored, with its assistant, provider
        and owner, which saves reading it back. The run's events go out once `after` (the broadcast that
        announced it) is done, so the run starts while it is being announced."""
        self._ensure_background()
        # A fresh context: the run outlives the request that started it, and must not inherit its
        # thread-sensitive executor (gone once a sync middleware's request ends) or anything else of it.
        task = asyncio.get_running_loop().create_task(
            self.execute(run_id, copy.copy(loaded), after), name=f"run:{run_id}", context=contextvars.Context()
        )
        self.tasks[run_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(run_id, None))
        return task

    def cancel(self, run_id: str) -> bool:
        task = self.tasks.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def start(self) -> None:
        """Under Daphne, beat and sweep from the first connection on, not the first run: an idle process
        must still expire the runs of a process that died."""
        if _running_reactor() is not None:
            self._ensure_background()

    def _ensure_background(self) -> None:
        loop = asyncio.get_running_loop()
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = loop.create_task(self._beat(), name="run-heartbeat", context=contextvars.Context())
        if self._control is None or self._control.done():
            self._control = loop.create_task(self._listen(), name="run-control", context=contextvars.Context())
            _shutdown_hook_install(self)

    async def _beat(self) -> None:
        interval = settings.SWITCHBOARD["RUN_HEARTBEAT_SECONDS"]
        while True:
            await asyncio.sleep(interval)
            try:
                # No request ends in here to drop a dead or expired connection, so each beat does.
                await sync_to_async(close_old_connections)()
                if self.tasks:
                    # Runs waiting for a slot are ours too, though no worker has claimed them yet.
                    await Run.objects.filter(
                        Q(worker=WORKER_ID) | Q(status=Run.Status.QUEUED), pk__in=list(self.tasks)
                    ).aupdate(heartbeat_at=timezone.now())
                await sync_to_async(runs_expire_stale)()
            except Exception:
                logger.exception("Run heartbeat failed")

    async def _listen(self) -> None:
        """Take cancel requests for our runs from other processes, through the channel layer."""
        layer = get_channel_layer()
        channel = await layer.new_channel()
        rejoining = asyncio.get_running_loop().create_task(self._rejoin(layer, channel), name="run-control-join")
        try:
            while True:
                # Never cancelled on a timer: the group is re-joined by its own task, so this receive stays.
                try:
                    message = await layer.receive(channel)
                except Exception:
                    logger.warning("Run control channel failed; retrying", exc_info=True)
                    await asyncio.sleep(1)
                    continue
                if message.get("type") == "run.cancel" and isinstance(message.get("run_id"), str):
                    self.cancel(message["run_id"])
        finally:
            rejoining.cancel()

    async def _rejoin(self, layer: Any, channel: str) -> None:
        """Join the control group now and every minute: a membership outlives neither expiry nor a Redis restart."""
        while True:
            try:
                await layer.group_add(CONTROL_GROUP, channel)
            except Exception:
                logger.warning("Run control group could not be joined; retrying", exc_info=True)
            await asyncio.sleep(60)

    async def shutdown(self, grace: float) -> None:
        """Stop taking runs, give running ones `grace` seconds, expire the rest, close MCP connections."""
        self.accepting = False
        tasks = dict(self.tasks)
        if tasks:
            logger.info("Shutting down: waiting up to %g s for %d run(s)", grace, len(tasks))
            _, pending = await asyncio.wait(tasks.values(), timeout=grace)
            for run_id, task in tasks.items():
                if task in pending:
                    self.expiring.add(run_id)
                    task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        background = [task for task in (self._heartbeat, self._control) if task is not None]
        for task in background:
            task.cancel()
        if background:
            # Shutdown does not wait long on a channel-layer receive that is slow to unwind.
            await asyncio.wait(background, timeout=2)
        await get_pool().close_all()

    async def execute(self, run_id: str, loaded: Run | None = None, after: asyncio.Future | None = None) -> None:
        try:
            async with self.slots:
                await self._execute(run_id, loaded, after)
        except asyncio.CancelledError:
            # Stopped before it began (waiting for a slot, or claiming it): nobody else will record that, and
            # the caller was told it would be. A run already under way records its own end.
            await asyncio.shield(self._end_unstarted(run_id))

    async def _execute(self, run_id: str, loaded: Run | None, after: asyncio.Future | None) -> None:
        start = await sync_to_async(_run_start)(run_id, loaded)
        if start is None:
            return  # cancelled before it started, or another process owns it
        run = start.run
        recorder = RunRecorder(run, after=after)
        recorder.send("thread.run.in_progress", run_object(run))
        limits = settings.SWITCHBOARD
        result = None
        try:
            async with asyncio.timeout(limits["RUN_TIMEOUT_SECONDS"]):
                if run.assistant is None:
                    raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
                owner = run.conversation.owner
                if start.error is not None:
                    raise start.error
                build = await assistant_agent_build(
                    assistant=run.assistant,
                    user_id=owner.pk,
                    username=owner.get_username(),
                    instructions=run.instructions,
                    servers=start.servers,
                )
                recorder.tool_servers = build.tool_servers
                if run.paused_state:
                    run_input: Any = await self._resume_state(run, build.agent)
                    await recorder.tool_steps_resume()
                else:
                    run_input = start.model_input
                result = Runner.run_streamed(
                    build.agent,
                    input=run_input,
                    max_turns=limits["RUN_MAX_TURNS"],
                    run_config=RunConfig(
                        tracing_disabled=not settings.AGENTS_TRACING,
                        trace_include_sensitive_data=False,
                        workflow_name="switchboard-run",
                    ),
                )
                async for event in result.stream_events():
                    await recorder.handle(event)
            if result.interruptions:
                await recorder.pause(result.interruptions, result.to_state().to_string())
                return
            await recorder.message_finish()
            usage = result.context_wrapper.usage
            await recorder.run_status(
                Run.Status.COMPLETED,
                completed_at=timezone.now(),
                paused_state="",
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                total_tokens=usage.total_tokens,
            )
        except asyncio.CancelledError:
            if result is not None:
                result.cancel()
            if run_id in self.expiring:
                ending = self._end(
                    recorder,
                    Run.Status.EXPIRED,
                    last_error_code="expired",
                    last_error="The server shut down before the run finished.",
                )
            else:
                ending = self._end(recorder, Run.Status.CANCELLED, cancelled_at=timezone.now())
            await asyncio.shield(ending)
        except TimeoutError:
            if result is not None:
                result.cancel()
            await self._end(
                recorder, Run.Status.INCOMPLETE, incomplete_reason="run_timeout", completed_at=timezone.now()
            )
        except ToolCallLimit:
            if result is not None:
                result.cancel()
            await self._end(
                recorder, Run.Status.INCOMPLETE, incomplete_reason="max_tool_calls", completed_at=timezone.now()
            )
        except MaxTurnsExceeded:
            await self._end(recorder, Run.Status.INCOMPLETE, incomplete_reason="max_turns", completed_at=timezone.now())
        except Exception as exc:  # noqa: BLE001 - every failure ends the run, never the process
            code, message = error_describe(
                exc, model=run.model, timeout=run.assistant.provider.timeout if run.assistant else None
            )
            # No traceback: provider errors may quote request details, and the key with them.
            logger.warning("Run %s failed: %s (%s)", run_id, code, type(exc).__name__)
            if result is not None:
                result.cancel()
            # The failure may be the database connection itself (dropped, restarted): record it on a fresh one.
            await sync_to_async(close_old_connections)()
            await self._end(
                recorder, Run.Status.FAILED, failed_at=timezone.now(), last_error_code=code, last_error=message
            )
        finally:
            try:
                # Every event is out before the run's task ends, even when it was cancelled.
                await asyncio.shield(recorder.outbox.flush())
            except Exception:  # the rows are written; only watchers missed the end
                logger.warning("Run %s: its last events could not be broadcast", run_id, exc_info=True)

    async def _end_unstarted(self, run_id: str) -> None:
        fields: dict[str, Any] = {"paused_state": ""}
        if run_id in self.expiring:
            fields |= {"status": Run.Status.EXPIRED, "last_error_code": "expired",
                       "last_error": "The server shut down before the run finished."}  # fmt: skip
        else:
            fields |= {"status": Run.Status.CANCELLED, "cancelled_at": timezone.now()}
        if await Run.objects.filter(pk=run_id, status__in=[Run.Status.QUEUED, Run.Status.IN_PROGRESS]).aupdate(
            **fields
        ):
            run = await Run.objects.aget(pk=run_id)
            await event_send(run.conversation_id, f"thread.run.{run.status}", run_object(run))

    async def _resume_state(self, run: Run, agent: Any) -> RunState:
        """The paused agent state with the user's decisions applied to each waiting call."""
        state = await RunState.from_string(agent, run.paused_state)
        approvals = run.metadata.get("approvals") or {}
        for item in state.get_interruptions():
            decision = approvals.get(_field(item.raw_item, "call_id")) or {"approve": False}
            if decision["approve"]:
                state.approve(item)
            else:
                state.reject(item, rejection_message=decision.get("reason") or DENIED_MESSAGE)
        return state

    async def _end(self, recorder: RunRecorder, status: str, **fields: Any) -> None:
        fields["paused_state"] = ""
        step_status = RunStep.Status.FAILED if status == Run.Status.FAILED else RunStep.Status.CANCELLED
        await recorder.close_open(step_status=step_status)
        await recorder.run_status(status, **fields)


def _running_reactor() -> Any:
    """Daphne's Twisted reactor, or None when not under Daphne (tests, management commands)."""
    reactor = sys.modules.get("twisted.internet.reactor")
    return reactor if reactor is not None and getattr(reactor, "running", False) else None


def _shutdown_hook_install(executor: Executor) -> None:
    """Under Daphne, let SIGTERM wait for runs to finish before the reactor stops."""
    reactor = _running_reactor()
    if reactor is None:
        return  # nothing to hook into
    from twisted.internet.defer import Deferred

    grace = settings.SWITCHBOARD["SHUTDOWN_GRACE_SECONDS"]
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromFuture(asyncio.ensure_future(executor.shutdown(grace)))
    )


async def run_cancel_elsewhere(run_id: str) -> None:
    """Ask whichever process owns this run to cancel it."""
    await get_channel_layer().group_send(CONTROL_GROUP, {"type": "run.cancel", "run_id": run_id})


def runs_expire_stale() -> int:
    """Mark runs whose worker stopped beating as expired; return how many."""
    stale_before = timezone.now() - timedelta(seconds=settings.SWITCHBOARD["RUN_STALE_SECONDS"])
    stale = Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.IN_PROGRESS, Run.Status.CANCELLING]).filter(
        heartbeat_at__lt=stale_before
    ) | Run.objects.filter(status=Run.Status.QUEUED, heartbeat_at__isnull=True, created_at__lt=stale_before)
    ids = list(stale.values_list("pk", flat=True))
    if not ids:
        return 0
    now = timezone.now()
    count = Run.objects.filter(pk__in=ids).update(
        status=Run.Status.EXPIRED, last_error_code="expired", last_error="The process running this run stopped."
    )
    Message.objects.filter(run_id__in=ids, status=Message.Status.IN_PROGRESS).update(
        status=Message.Status.INCOMPLETE, completed_at=now
    )
    RunStep.objects.filter(run_id__in=ids, status=RunStep.Status.IN_PROGRESS).update(
        status=RunStep.Status.EXPIRED, completed_at=now
    )
    return count


_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Executor] = weakref.WeakKeyDictionary()


def get_executor() -> Executor:
    loop = asyncio.get_running_loop()
    executor = _executors.get(loop)
    if executor is None:
        executor = _executors[loop] = Executor()
    return executor
