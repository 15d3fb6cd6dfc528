"""The run executor: one process-owned asyncio task per run, and the process's part in runs elsewhere.

A run's task belongs to the event loop, not to the socket that asked for it, so a closed tab neither stops
nor loses a run. The task claims the run (`chat.run_start`), builds its agent, streams it, and leaves every
stream event to the run's recorder (`chat.recorder`), which turns it into rows and events. Its life is traced:
the Agents SDK's own spans, and Switchboard's where time goes outside the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any

from agents import RunConfig, Runner, custom_span, trace
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from assistants.services import assistant_agent_build
from chat.citations import thread_vector_store_ids
from chat.elicitation import RunQuestions, elicitation_wake
from chat.errors import run_ending
from chat.events import CONTROL_GROUP, announce
from chat.mcp_resources import model_input_resources_read
from chat.models import Run
from chat.prompt_budget import prompt_budget
from chat.recorder import RunRecorder
from chat.run_start import RunStart, run_claim, run_state_resume, runs_beat
from chat.selectors import Branch
from chat.serializers import run_object
from chat.timeline import authors_seen
from core.database import database_single_threaded
from core.errors import ServiceError
from core.metrics import error_record, run_queue_track
from guardrails.services import (
    agent_tool_calls_guard,
    answer_withheld,
    guardrail_trip,
    guardrails_build,
)
from mcp_servers.elicitation import tool_elicitation
from mcp_servers.pool import get_pool, tool_progress, tool_task
from teams.services import member_events, team_build

logger = logging.getLogger(__name__)

WORKFLOW_NAME = "switchboard-run"


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

    def submit(self, run_id: str, *, loaded: Run | None = None, branch: Branch | None = None) -> asyncio.Task:
        """Start the run in its own task; `loaded` is the queued run just stored, with its assistant, provider
        and owner, and `branch` the branch it answers, which saves reading them back. Its events follow whatever
        announced it (`chat.events`)."""
        self._ensure_background()
        # A fresh context: the run outlives the request that started it, and must not inherit its
        # thread-sensitive executor (gone once a sync middleware's request ends) or anything else of it.
        task = asyncio.get_running_loop().create_task(
            self.execute(run_id, copy.copy(loaded), branch), name=f"run:{run_id}", context=contextvars.Context()
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
        """Beat and sweep from now on, not from the first run: an idle server process must still expire the
        runs of a process that died (config.process starts it with the first connection)."""
        self._ensure_background()

    def _ensure_background(self) -> None:
        loop = asyncio.get_running_loop()
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = loop.create_task(self._beat(), name="run-heartbeat", context=contextvars.Context())
        if self._control is None or self._control.done():
            self._control = loop.create_task(self._listen(), name="run-control", context=contextvars.Context())

    async def _beat(self) -> None:
        interval = settings.SWITCHBOARD["RUN_HEARTBEAT_SECONDS"]
        while True:
            await asyncio.sleep(interval)
            try:
                # On a thread of its own where the database allows it: behind a busy database thread the beat
                # would come late, and another process would expire runs that are alive. The beat gives its
                # connection back itself (`runs_beat`).
                await sync_to_async(runs_beat, thread_sensitive=database_single_threaded())(list(self.tasks))
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
                elif message.get("type") == "elicitation.answered" and isinstance(message.get("run_id"), str):
                    elicitation_wake(message["run_id"])  # its answer is stored: the run reads it
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

    async def execute(self, run_id: str, loaded: Run | None = None, branch: Branch | None = None) -> None:
        try:
            async with self._slot():
                await self._execute(run_id, loaded, branch)
        except asyncio.CancelledError:
            # Stopped before it began (waiting for a slot, or claiming it): nobody else will record that, and
            # the caller was told it would be. A run already under way records its own end.
            await asyncio.shield(self._end_unstarted(run_id))

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One of the process's run slots; the run counts as queued while it waits for one."""
        with run_queue_track():
            await self.slots.__aenter__()
        try:
            yield
        finally:
            await self.slots.__aexit__(None, None, None)

    async def _execute(self, run_id: str, loaded: Run | None, branch: Branch | None) -> None:
        metadata = {"run_id": run_id}
        if loaded is not None:
            metadata |= _run_metadata(loaded)
        with trace(WORKFLOW_NAME, trace_id=f"trace_{uuid.uuid4().hex}", group_id=metadata.get("thread_id"),
                   metadata=metadata):  # fmt: skip
            with custom_span("run.claim"):
                start = await sync_to_async(run_claim)(run_id, loaded, branch)
            if start is None:
                return  # cancelled before it started, or another process owns it
            metadata |= _run_metadata(start.run)
            recorder = RunRecorder(start.run, price=start.price, follows=start.follows)
            recorder.send("thread.run.in_progress", run_object(start.run))
            try:
                await self._stream(start, recorder)
            except BaseException as exc:
                # One way out for every early end: the exception says which status the run ends with.
                status, fields = run_ending(exc, run=start.run, expiring=run_id in self.expiring)
                if status == Run.Status.FAILED:
                    # No traceback: provider errors may quote request details, and the key with them.
                    logger.warning("Run %s failed: %s (%s)", run_id, fields["last_error_code"], type(exc).__name__)
                    error_record(code=fields["last_error_code"])
                    # The failure may be the database connection itself (dropped, restarted): use a fresh one.
                    await sync_to_async(close_old_connections)()
                await asyncio.shield(recorder.end(status, trip=guardrail_trip(exc), **fields))
                if not isinstance(exc, Exception | asyncio.CancelledError):
                    raise
            finally:
                with custom_span("run.end", recorder.end_span_data()):
                    pass  # the last events' broadcast follows: the trace ends once they are out
                try:
                    # Every event is out before the run's task ends, even when it was cancelled.
                    await asyncio.shield(recorder.sent())
                except Exception:  # the rows are written; only watchers missed the end
                    logger.warning("Run %s: its last events could not be broadcast", run_id, exc_info=True)

    async def _stream(self, start: RunStart, recorder: RunRecorder) -> None:
        """Build the run's agent and stream it to the recorder, within the run's time limit."""
        run, limits = start.run, settings.SWITCHBOARD
        result = None
        try:
            async with asyncio.timeout(limits["RUN_TIMEOUT_SECONDS"]) as deadline:
                if run.assistant is None:
                    raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
                if start.error is not None:
                    raise start.error
                owner = run.conversation.owner
                function_outputs: dict[str, str] = {}
                guardrails = await guardrails_build(assistant=run.assistant, rows=start.guardrails)
                team = await team_build(
                    assistant=run.assistant,
                    user_id=owner.pk,
                    username=owner.get_username(),
                    links=start.links,
                    guardrails=guardrails,
                )
                build = await assistant_agent_build(
                    assistant=run.assistant,
                    user_id=owner.pk,
                    username=owner.get_username(),
                    instructions=run.instructions,
                    servers=start.servers,
                    functions=run.functions,
                    function_outputs=function_outputs,
                    overrides=run.overrides,
                    input_guardrails=guardrails.input,
                    output_guardrails=guardrails.output,
                    handoffs=team.handoffs,
                    extra_tools=team.tools,
                    vector_store_ids=thread_vector_store_ids(run.conversation),
                    refusal=start.refusal,
                    model_name=run.model or None,
                )
                build.skipped += team.skipped
                agent_tool_calls_guard(build.agent, guardrails.tool_calls)
                recorder.tool_servers = {**team.tool_servers, **build.tool_servers}
                recorder.agent_assistants = team.assistants
                # The sockets drawing this run's entries name its assistants without asking the database.
                authors_seen({run.assistant_id: run.assistant.name} | {pk: n for n, pk in team.assistants.items()})
                recorder.functions = build.functions
                if build.skipped:
                    await recorder.servers_skipped(summary=build.skipped_summary, warning=build.skipped_warning)
                if run.paused_state:
                    run_input: Any = await run_state_resume(run, build.agent, function_outputs)
                    await recorder.tool_steps_resume()
                else:
                    run_input = start.model_input
                    if start.attached:
                        unread = await model_input_resources_read(
                            attached=start.attached,
                            servers=start.servers,
                            refusal=start.refusal,
                            user_id=owner.pk,
                            username=owner.get_username(),
                        )
                        if unread:
                            recorder.warning = " ".join(filter(None, [recorder.warning, unread]))
                recorder.model_started = time.monotonic()
                # The run's tool calls run in tasks made from this one's context: they report progress here.
                tool_progress.set(recorder.tool_progress)
                tool_task.set(recorder.tool_task)
                # What their servers ask the user during those calls waits for the answer, outside the run's time.
                tool_elicitation.set(RunQuestions(recorder, deadline).ask)
                member_events.set(recorder.member_event)
                result = Runner.run_streamed(
                    build.agent,
                    input=run_input,
                    max_turns=limits["RUN_MAX_TURNS"],
                    run_config=RunConfig(
                        trace_include_sensitive_data=False,
                        workflow_name=WORKFLOW_NAME,
                        # A run with a max_prompt_tokens fits each model call to what it has left.
                        call_model_input_filter=prompt_budget(run, recorder),
                    ),
                )
                events = result.stream_events()
                if guardrails.output or team.output_checked:
                    events = answer_withheld(events)  # nothing an output guardrail refuses is shown
                async for event in events:
                    await recorder.handle(event)
        except BaseException:
            if result is not None:
                result.cancel()
            raise
        if result.interruptions:
            await recorder.pause(result.interruptions, result.to_state().to_string())
        else:
            await recorder.complete()

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
            await announce(run.conversation_id, [(f"thread.run.{run.status}", run_object(run))])


def _run_metadata(run: Run) -> dict[str, str]:
    """What a run's trace is filed under, as strings (the SDK's exporters want flat string metadata)."""
    metadata = {"run_id": run.pk, "thread_id": run.conversation_id, "assistant_id": run.assistant_id or "",
                "model": run.model or ""}  # fmt: skip
    # Only what is loaded already: a query here would run on the event loop.
    if Run.conversation.field.is_cached(run):
        metadata["user_id"] = str(run.conversation.owner_id)
    assistant = run.assistant if Run.assistant.field.is_cached(run) else None
    if assistant is not None and type(assistant).provider.field.is_cached(assistant):
        metadata["provider"] = assistant.provider.name
    return metadata


_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Executor] = weakref.WeakKeyDictionary()


def get_executor() -> Executor:
    loop = asyncio.get_running_loop()
    executor = _executors.get(loop)
    if executor is None:
        executor = _executors[loop] = Executor()
    return executor
