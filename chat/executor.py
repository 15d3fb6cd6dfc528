"""The run executor: one process-owned asyncio task per run.

A run's task belongs to the event loop, not to the socket that asked for it, so a closed tab
neither stops nor loses a run. Every stream event becomes rows and a broadcast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
import weakref
from datetime import timedelta
from typing import Any

from agents import ItemHelpers, RunConfig, Runner
from agents.exceptions import MaxTurnsExceeded
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from assistants.services import assistant_agent_build
from chat.errors import ServiceError, error_describe
from chat.events import event_send
from chat.models import Message, Run, RunStep
from chat.selectors import conversation_model_input
from chat.serializers import message_delta_object, message_object, run_object, run_step_object

logger = logging.getLogger(__name__)

USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


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

    def __init__(self, run: Run) -> None:
        self.run = run
        self.thread_id = run.conversation_id
        self.message: Message | None = None
        self.message_step: RunStep | None = None
        self.text: list[str] = []
        self.tool_steps: dict[str, RunStep] = {}
        self.tool_started: dict[str, float] = {}
        self.tool_servers: dict[str, str] = {}
        self.pending_usage: Any = None

    async def send(self, event: str, data: dict[str, Any]) -> None:
        await event_send(self.thread_id, event, data)

    def step_data(self, step: RunStep) -> dict[str, Any]:
        return run_step_object(step, thread_id=self.thread_id, assistant_id=self.run.assistant_id)

    async def run_status(self, status: str, **fields: Any) -> None:
        self.run.status = status
        for name, value in fields.items():
            setattr(self.run, name, value)
        await self.run.asave(update_fields=["status", *fields])
        await self.send(f"thread.run.{status}", run_object(self.run))

    async def message_start(self) -> None:
        self.message = await Message.objects.acreate(
            conversation_id=self.thread_id,
            role=Message.Role.ASSISTANT,
            run=self.run,
            assistant_id=self.run.assistant_id,
            status=Message.Status.IN_PROGRESS,
        )
        self.message_step = await RunStep.objects.acreate(
            run=self.run, type=RunStep.Type.MESSAGE_CREATION, message=self.message
        )
        self.text = []
        await self.send("thread.run.step.created", self.step_data(self.message_step))
        await self.send("thread.message.created", message_object(self.message))
        await self.send("thread.message.in_progress", message_object(self.message))

    async def message_delta(self, delta: str) -> None:
        if self.message is None:
            await self.message_start()
        self.text.append(delta)
        await self.send("thread.message.delta", message_delta_object(self.message.id, delta))

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
        await message.asave(update_fields=["content", "status", "completed_at"])
        step.status = RunStep.Status.COMPLETED if status == Message.Status.COMPLETED else RunStep.Status.CANCELLED
        step.completed_at = now
        self.usage_apply(step)
        await step.asave(update_fields=["status", "completed_at", *USAGE_FIELDS])
        event = "completed" if status == Message.Status.COMPLETED else "incomplete"
        await self.send(f"thread.message.{event}", message_object(message))
        await self.send(f"thread.run.step.{step.status}", self.step_data(step))

    async def tool_called(self, raw: Any) -> None:
        await self.message_finish()
        call_id = getattr(raw, "call_id", None) or (raw.get("call_id") if isinstance(raw, dict) else "")
        name = getattr(raw, "name", None) or (raw.get("name") if isinstance(raw, dict) else "")
        arguments = getattr(raw, "arguments", None) or (raw.get("arguments") if isinstance(raw, dict) else "")
        step = await RunStep.objects.acreate(
            run=self.run,
            type=RunStep.Type.TOOL_CALLS,
            tool_call_id=call_id or "",
            tool_name=name or "",
            server_name=self.tool_servers.get(name or "", ""),
            arguments=arguments or "{}",
            **self.usage_take(),
        )
        self.tool_steps[step.tool_call_id] = step
        self.tool_started[step.tool_call_id] = time.monotonic()
        await self.send("thread.run.step.created", self.step_data(step))
        await self.send("thread.run.step.in_progress", self.step_data(step))

    async def tool_output(self, item: Any) -> None:
        raw = item.raw_item
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", "")
        step = self.tool_steps.pop(call_id, None)
        if step is None:
            return
        outcome = item.custom_data or {}
        output = _output_text(item.output)
        step.output = output
        step.server_name = outcome.get("server") or step.server_name
        if outcome.get("is_error"):
            step.status = RunStep.Status.FAILED
            step.error = output
        else:
            step.status = RunStep.Status.COMPLETED
        step.completed_at = timezone.now()
        step.duration_ms = int((time.monotonic() - self.tool_started.pop(call_id, time.monotonic())) * 1000)
        await step.asave(update_fields=["output", "server_name", "status", "error", "completed_at", "duration_ms"])
        await self.send(f"thread.run.step.{step.status}", self.step_data(step))

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
            await step.asave(update_fields=["status", "completed_at"])
            await self.send(f"thread.run.step.{step_status}", self.step_data(step))
        self.tool_steps.clear()


class Executor:
    """Owns the runs this process executes, for one event loop."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self._heartbeat: asyncio.Task | None = None

    def submit(self, run_id: str) -> asyncio.Task:
        self._ensure_heartbeat()
        task = asyncio.get_running_loop().create_task(self.execute(run_id), name=f"run:{run_id}")
        self.tasks[run_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(run_id, None))
        return task

    def cancel(self, run_id: str) -> bool:
        task = self.tasks.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="run-heartbeat")

    async def _beat(self) -> None:
        interval = settings.SWITCHBOARD["RUN_HEARTBEAT_SECONDS"]
        while True:
            await asyncio.sleep(interval)
            try:
                if self.tasks:
                    await Run.objects.filter(pk__in=list(self.tasks), worker=WORKER_ID).aupdate(
                        heartbeat_at=timezone.now()
                    )
                await sync_to_async(runs_expire_stale)()
            except Exception:
                logger.exception("Run heartbeat failed")

    async def execute(self, run_id: str) -> None:
        now = timezone.now()
        claimed = await Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).aupdate(
            status=Run.Status.IN_PROGRESS, started_at=now, worker=WORKER_ID, heartbeat_at=now
        )
        if not claimed:
            return  # cancelled before it started, or another process owns it
        run = await Run.objects.select_related("assistant__provider", "conversation__owner").aget(pk=run_id)
        recorder = RunRecorder(run)
        await recorder.send("thread.run.in_progress", run_object(run))
        limits = settings.SWITCHBOARD
        result = None
        try:
            async with asyncio.timeout(limits["RUN_TIMEOUT_SECONDS"]):
                if run.assistant is None:
                    raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
                owner = run.conversation.owner
                build = await assistant_agent_build(
                    assistant=run.assistant,
                    user_id=owner.pk,
                    username=owner.get_username(),
                    instructions=run.instructions,
                )
                for server in build.servers:
                    for tool in await server.list_tools():
                        recorder.tool_servers.setdefault(tool.name, server.name)
                items = await sync_to_async(conversation_model_input)(conversation_id=run.conversation_id)
                result = Runner.run_streamed(
                    build.agent,
                    input=items,
                    max_turns=limits["RUN_MAX_TURNS"],
                    run_config=RunConfig(
                        tracing_disabled=not settings.AGENTS_TRACING,
                        trace_include_sensitive_data=False,
                        workflow_name="switchboard-run",
                    ),
                )
                async for event in result.stream_events():
                    await recorder.handle(event)
            await recorder.message_finish()
            usage = result.context_wrapper.usage
            await recorder.run_status(
                Run.Status.COMPLETED,
                completed_at=timezone.now(),
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                total_tokens=usage.total_tokens,
            )
        except asyncio.CancelledError:
            if result is not None:
                result.cancel()
            await asyncio.shield(self._end(recorder, Run.Status.CANCELLED, cancelled_at=timezone.now()))
        except TimeoutError:
            if result is not None:
                result.cancel()
            await self._end(
                recorder, Run.Status.INCOMPLETE, incomplete_reason="run_timeout", completed_at=timezone.now()
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
            await self._end(
                recorder, Run.Status.FAILED, failed_at=timezone.now(), last_error_code=code, last_error=message
            )

    async def _end(self, recorder: RunRecorder, status: str, **fields: Any) -> None:
        step_status = RunStep.Status.FAILED if status == Run.Status.FAILED else RunStep.Status.CANCELLED
        await recorder.close_open(step_status=step_status)
        await recorder.run_status(status, **fields)


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
