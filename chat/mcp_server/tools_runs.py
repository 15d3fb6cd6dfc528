"""The run and run step tools, and how a call that waits on a run follows it and is cancelled with it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any

import anyio
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from mcp.server.mcpserver import Context
from pydantic import Field

from chat import selectors, services
from chat.mcp_server.arguments import After, Before, Limit, Metadata, Order, RunId, ThreadId, page_params
from chat.mcp_server.base import http_user, mcp_tool, request_user
from chat.mcp_server.tools_threads import thread_get
from chat.models import Run, RunStep
from chat.serializers import run_object, run_step_data
from core.api import LIMIT_DEFAULT, page
from core.errors import ServiceError

# How long `create_run` waits by default, and at most, before answering with the run as it is.
RUN_WAIT_DEFAULT_SECONDS = 120.0
RUN_WAIT_MAX_SECONDS = 600.0
# How often a waiting `create_run` tells a client that asked for progress how the run goes.
PROGRESS_SECONDS = 1.0
# How long cancelling a run may hold up the answer to a cancelled call.
CANCEL_SECONDS = 10.0

logger = logging.getLogger(__name__)


def _run(user: AbstractBaseUser, thread_id: str, run_id: str) -> Run:
    return selectors.run_get_for_user(user=user, run_id=run_id, conversation_id=thread_id)


def _waiting_keys(user_id: Any, request_id: Any) -> tuple[str, str]:
    """Cache keys of a stateless HTTP call that waits on a run: the run's id, and "the client cancelled it"."""
    key = f"switchboard:mcp:waiting:{user_id}:{json.dumps(str(request_id))}"
    return f"{key}:run", f"{key}:cancelled"


async def _run_cancel_quietly(user: AbstractBaseUser, run_id: str) -> None:
    """Cancel the run through the service the API uses; one that has ended already stays as it is."""
    with contextlib.suppress(ServiceError):
        await services.run_cancel(user=user, run_id=run_id)


async def _run_wait(ctx: Context, user: AbstractBaseUser, run: Run, seconds: float) -> Run:
    """Wait for the run as the API does, reporting progress if the client asked; a cancelled call cancels the run.

    Over stdio and WebSocket the session stops this call when the client sends `notifications/cancelled`, and
    over Streamable HTTP so does a closed response stream. A stateless HTTP client's `notifications/cancelled`
    comes in a request of its own, possibly to another process (`http_call_cancelled`): the two meet in the
    cache, each writing its own key before reading the other's, so whichever comes second cancels the run.
    """
    request = ctx.request_context
    keys = None
    if http_user(request) is not None and request.request_id is not None:
        keys = _waiting_keys(user.pk, request.request_id)
        await cache.aset(keys[0], run.pk, timeout=seconds + CANCEL_SECONDS)
        if await cache.aget(keys[1]):
            await _run_cancel_quietly(user, run.pk)
    try:
        return await _run_wait_reporting(ctx, user, run, seconds)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_SECONDS):
            await _run_cancel_quietly(user, run.pk)
        raise
    finally:
        if keys is not None:
            with anyio.CancelScope(shield=True):
                await cache.adelete_many(keys)


# Cancels a notification asked for, held until done: the request that brought it is answered at once.
_cancelling: set[asyncio.Task[None]] = set()


def http_call_cancelled(*, user: AbstractBaseUser, request_id: Any) -> None:
    """A stateless HTTP client cancelled its call `request_id`: cancel the run it waits on (or is about to)."""
    task = asyncio.get_running_loop().create_task(_waiting_run_cancel(user, request_id))
    _cancelling.add(task)
    task.add_done_callback(_cancelling.discard)


async def _waiting_run_cancel(user: AbstractBaseUser, request_id: Any) -> None:
    run_key, cancelled_key = _waiting_keys(user.pk, request_id)
    try:
        # Only long enough to meet a call that has not yet started waiting: request ids start again in a new
        # session.
        await cache.aset(cancelled_key, True, timeout=CANCEL_SECONDS)
        run_id = await cache.aget(run_key)
        if run_id:
            await _run_cancel_quietly(user, run_id)
    except Exception:  # nobody awaits this task: say what went wrong
        logger.exception("Cancelling the run of a cancelled MCP call failed")


async def _run_wait_reporting(ctx: Context, user: AbstractBaseUser, run: Run, seconds: float) -> Run:
    if (ctx.request_context.meta or {}).get("progress_token") is None:
        return await services.run_wait(user=user, run_id=run.pk, timeout=seconds)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds
    while True:
        remaining = deadline - loop.time()
        run = await services.run_wait(user=user, run_id=run.pk, timeout=max(0.0, min(remaining, PROGRESS_SECONDS)))
        if run.status in services.SETTLED_STATUSES or remaining <= PROGRESS_SECONDS:
            return run
        steps = await RunStep.objects.filter(run_id=run.pk).acount()
        # Seconds waited: a value that grows with every notification, as the spec asks; the run has no total.
        await ctx.report_progress(
            round(loop.time() - started, 1), message=f"The run is {run.status}; {steps} steps so far."
        )


@mcp_tool(
    "Run an assistant on a thread to answer its messages. By default waits until the run ends (or needs a "
    "decision) and returns it; read the answer with list_messages. With wait=false it returns the queued run "
    "at once; poll get_run."
)
async def create_run(
    ctx: Context,
    thread_id: ThreadId,
    assistant_id: Annotated[str | None, Field(description="Default: the thread's assistant.", max_length=64)] = None,
    instructions: Annotated[str | None, Field(description="Replace the assistant's instructions for this run.")] = None,
    additional_instructions: Annotated[
        str | None, Field(description="Append to the instructions for this run.")
    ] = None,
    metadata: Metadata = None,
    wait: Annotated[bool, Field(description="Wait for the run to end before answering.")] = True,
    timeout_seconds: Annotated[
        float,
        Field(description="With wait: answer with the run as it is after this long.", ge=0, le=RUN_WAIT_MAX_SECONDS),
    ] = RUN_WAIT_DEFAULT_SECONDS,
) -> dict[str, Any]:
    user = request_user(ctx)
    # Awaited on this server's event loop: the executor runs the run there, in a task of the process.
    run = await services.run_create(
        user=user,
        conversation_id=thread_id,
        assistant_id=assistant_id,
        instructions=instructions,
        additional_instructions=additional_instructions,
        metadata=metadata,
    )
    if wait:
        run = await _run_wait(ctx, user, run, timeout_seconds)
    return run_object(run)


@mcp_tool("Get a run by id.", read_only=True)
async def get_run(ctx: Context, thread_id: ThreadId, run_id: RunId) -> dict[str, Any]:
    user = request_user(ctx)
    return await sync_to_async(lambda: run_object(_run(user, thread_id, run_id)))()


@mcp_tool("List a thread's runs, newest first by default.", read_only=True)
async def list_runs(
    ctx: Context,
    thread_id: ThreadId,
    limit: Limit = LIMIT_DEFAULT,
    order: Order = "desc",
    after: After = None,
    before: Before = None,
) -> dict[str, Any]:
    user = request_user(ctx)

    def listed() -> dict[str, Any]:
        queryset = Run.objects.filter(conversation=thread_get(user, thread_id))
        return page(queryset, page_params(limit, order, after, before), run_object)

    return await sync_to_async(listed)()


@mcp_tool("Cancel an active run and return it once it has stopped.", destructive=True)
async def cancel_run(ctx: Context, thread_id: ThreadId, run_id: RunId) -> dict[str, Any]:
    run = await services.run_cancel(user=request_user(ctx), run_id=run_id, conversation_id=thread_id)
    return run_object(run)


@mcp_tool(
    "Approve or deny a tool call that a paused run (status requires_action) waits on; the calls are listed in "
    "the run's required_action. Once every waiting call is decided the run resumes; a denied call is not made "
    "and the model is told why. By default waits until the run ends or pauses again."
)
async def decide_tool_call(
    ctx: Context,
    thread_id: ThreadId,
    run_id: RunId,
    tool_call_id: Annotated[str, Field(description="The id from required_action.", max_length=100)],
    approve: Annotated[bool, Field(description="true runs the tool; false refuses it.")],
    reason: Annotated[str | None, Field(description="Told to the model when refusing.", max_length=2000)] = None,
    wait: Annotated[bool, Field(description="Wait for the run to end or pause again.")] = True,
    timeout_seconds: Annotated[
        float,
        Field(description="With wait: answer with the run as it is after this long.", ge=0, le=RUN_WAIT_MAX_SECONDS),
    ] = RUN_WAIT_DEFAULT_SECONDS,
) -> dict[str, Any]:
    user = request_user(ctx)
    await sync_to_async(_run)(user, thread_id, run_id)
    if approve:
        run = await services.run_approve(user=user, run_id=run_id, tool_call_id=tool_call_id)
    else:
        run = await services.run_deny(user=user, run_id=run_id, tool_call_id=tool_call_id, reason=reason or "")
    if wait and run.status == Run.Status.QUEUED:
        run = await _run_wait(ctx, user, run, timeout_seconds)
    return run_object(run)


@mcp_tool("List a run's steps (its tool calls and the messages it wrote), newest first by default.", read_only=True)
async def list_run_steps(
    ctx: Context,
    thread_id: ThreadId,
    run_id: RunId,
    limit: Limit = LIMIT_DEFAULT,
    order: Order = "desc",
    after: After = None,
    before: Before = None,
) -> dict[str, Any]:
    user = request_user(ctx)

    def listed() -> dict[str, Any]:
        run = _run(user, thread_id, run_id)

        return page(
            RunStep.objects.filter(run=run),
            page_params(limit, order, after, before),
            lambda step: run_step_data(step, run),
        )

    return await sync_to_async(listed)()
