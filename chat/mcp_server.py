"""Switchboard's own MCP server: assistants, threads, messages, runs and run steps as MCP tools.

The tools are thin callers of the services the `/v1/` API uses, and return the same Assistants v2
objects as JSON, so every interface behaves the same. Each transport decides who is asking: stdio
(`manage.py mcp_serve --user`) and WebSocket (`/mcp/ws`) set `acting_user` for their session's task;
Streamable HTTP (`/mcp/`) authenticates every request and puts the token's user in the request's ASGI
scope. A user id never comes from tool arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import json
import logging
import tomllib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import anyio
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_REQUEST,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
)
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from assistants import api as assistants_api
from assistants.models import Assistant
from assistants.serializers import assistant_object
from assistants.services import assistant_create, assistant_delete, assistant_get, assistant_update
from chat import mcp_catalog, selectors, services
from chat.models import Run, RunStep
from chat.serializers import message_object, run_object, run_step_data, thread_object
from core.api import LIMIT_DEFAULT, LIMIT_MAX, ApiError, PageParams, page
from core.errors import ServiceError

# Where the Streamable HTTP endpoint leaves the authenticated user in the request's ASGI scope.
SCOPE_USER_KEY = "switchboard.user"
# How long `create_run` waits by default, and at most, before answering with the run as it is.
RUN_WAIT_DEFAULT_SECONDS = 120.0
RUN_WAIT_MAX_SECONDS = 600.0
NOT_AUTHENTICATED = "Not authenticated: connect with a Switchboard API token."
# How often a waiting `create_run` tells a client that asked for progress how the run goes.
PROGRESS_SECONDS = 1.0
# How long cancelling a run may hold up the answer to a cancelled call.
CANCEL_SECONDS = 10.0


def _version() -> str:
    """This installation's version, as serverInfo says it."""
    try:
        return importlib.metadata.version("switchboard")
    except importlib.metadata.PackageNotFoundError:
        return tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"][
            "version"
        ]


logger = logging.getLogger(__name__)

acting_user: ContextVar[AbstractBaseUser | None] = ContextVar("switchboard_mcp_user", default=None)


class SwitchboardMCPServer(MCPServer):
    """The MCP server: tools registered as usual; resources and prompts are the asking user's own, so they are
    listed and read per request (`chat.mcp_catalog`) rather than registered once for everyone."""

    async def _handle_list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        resources, next_cursor = await _catalog_page(ctx, params, mcp_catalog.resources_list)
        return ListResourcesResult(resources=resources, next_cursor=next_cursor)

    async def _handle_list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        _catalog_user(ctx)
        return ListResourceTemplatesResult(resource_templates=mcp_catalog.TEMPLATES)

    async def _handle_read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        user = _catalog_user(ctx)
        contents = await sync_to_async(mcp_catalog.resource_read)(user=user, uri=str(params.uri))
        return ReadResourceResult(contents=contents)

    async def _handle_list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        prompts, next_cursor = await _catalog_page(ctx, params, mcp_catalog.prompts_list)
        return ListPromptsResult(prompts=prompts, next_cursor=next_cursor)

    async def _handle_get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: GetPromptRequestParams
    ) -> GetPromptResult:
        user = _catalog_user(ctx)
        return await sync_to_async(mcp_catalog.prompt_get)(user=user, name=params.name, arguments=params.arguments)


server = SwitchboardMCPServer(
    name="switchboard",
    title="Switchboard",
    version=_version(),
    instructions=(
        "Manage Switchboard assistants and chat with them. Typical use: list_assistants (or create_assistant), "
        "create_thread, create_message, then create_run, which waits for the answer; read it with list_messages. "
        "Objects are OpenAI Assistants v2 JSON."
    ),
)

P = ParamSpec("P")
R = TypeVar("R")


# --- Who is asking, and errors as tool errors -------------------------------------------------------------------


def _http_user(request_context: ServerRequestContext[Any, Any]) -> AbstractBaseUser | None:
    """The user a Streamable HTTP request was authenticated as; None on the other transports."""
    scope = getattr(request_context.request, "scope", None)
    return scope.get(SCOPE_USER_KEY) if isinstance(scope, dict) else None


def _user(request_context: ServerRequestContext[Any, Any]) -> AbstractBaseUser | None:
    user = _http_user(request_context)
    return user if user is not None else acting_user.get()


def request_user(ctx: Context) -> AbstractBaseUser:
    """The user this request acts for, as its transport authenticated them."""
    user = _user(ctx.request_context)
    if user is None:
        raise ToolError(NOT_AUTHENTICATED)
    return user


def _catalog_user(request_context: ServerRequestContext[Any, Any]) -> AbstractBaseUser:
    """The user a resources or prompts request acts for."""
    user = _user(request_context)
    if user is None:
        raise MCPError(INVALID_REQUEST, NOT_AUTHENTICATED)
    return user


async def _catalog_page(
    request_context: ServerRequestContext[Any, Any],
    params: PaginatedRequestParams | None,
    lister: Callable[..., tuple[list[Any], str | None]],
) -> tuple[list[Any], str | None]:
    """One page of a resources or prompts list, for the user the request acts for."""
    user = _catalog_user(request_context)
    return await sync_to_async(lister)(user=user, cursor=params.cursor if params else None)


def _error_text(exc: Exception) -> str | None:
    """Readable text for a refused request; None for anything unexpected."""
    if isinstance(exc, ServiceError):
        return exc.text()
    if isinstance(exc, ApiError):  # the API's argument parsers, reused for assistant fields
        return f"{exc.message} (param: {exc.param})" if exc.param else exc.message
    return None


def _tool(
    description: str, *, read_only: bool = False, destructive: bool = False
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Register a tool whose refused requests come back as tool errors (is_error results) with readable text."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except ToolError:
                raise
            except Exception as exc:
                text = _error_text(exc)
                if text is None:
                    raise
                raise ToolError(text) from None

        hints = ToolAnnotations(read_only_hint=read_only, destructive_hint=destructive if not read_only else None)
        server.add_tool(wrapper, description=description, annotations=hints)
        return wrapper

    return decorate


def _given(ctx: Context) -> set[str]:
    """The argument names the caller actually sent, so an update changes only those fields."""
    params = ctx.request_context.params or {}
    arguments = params.get("arguments") or {}
    return set(arguments) if isinstance(arguments, dict) else set()


# --- Argument types ---------------------------------------------------------------------------------------------

AssistantId = Annotated[str, Field(description="An assistant id (asst_…).", max_length=64)]
ThreadId = Annotated[str, Field(description="A thread id (thread_…).", max_length=64)]
RunId = Annotated[str, Field(description="A run id (run_…).", max_length=64)]
Metadata = Annotated[
    dict[str, str] | None,
    Field(description="Up to 16 string pairs; keys up to 64 characters, values up to 512."),
]
Limit = Annotated[int, Field(description="How many objects to return.", ge=1, le=LIMIT_MAX)]
Order = Annotated[Literal["asc", "desc"], Field(description="Sort by creation time: 'asc' or 'desc'.")]
After = Annotated[str | None, Field(description="Return objects after this id (the previous page's last_id).")]
Before = Annotated[str | None, Field(description="Return objects before this id.")]


class McpServerTool(BaseModel):
    """An MCP server the assistant may call, as in the Assistants API's `tools`."""

    type: Literal["mcp"] = "mcp"
    server_label: str = Field(description="The MCP server's name.")


class MessageInput(BaseModel):
    role: Literal["user", "assistant"] = Field("user", description="Who wrote the message.")
    content: str = Field(description="The message text.")
    metadata: dict[str, str] | None = None


def _page_params(limit: int, order: str, after: str | None, before: str | None) -> PageParams:
    return PageParams(limit=limit, order=order, after=after or None, before=before or None)


def _deleted(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": f"{kind}.deleted", "deleted": True}


# --- Assistants -------------------------------------------------------------------------------------------------


def _assistant_fields(
    user: AbstractBaseUser, values: dict[str, Any], *, assistant: Assistant | None = None
) -> dict[str, Any]:
    """Map tool arguments to service arguments exactly as the `/v1/assistants` endpoints do."""
    data = dict(values)
    if "tools" in data and data["tools"] is not None:
        data["tools"] = [tool.model_dump() for tool in data["tools"]]
    return assistants_api.assistant_fields_parse(user, data, assistant=assistant)


def _assistant_read(assistant: Assistant) -> dict[str, Any]:
    return assistant_object(Assistant.objects.prefetch_related("mcp_servers").get(pk=assistant.pk))


@_tool("List the assistants you may use (your own and shared ones), newest first by default.", read_only=True)
async def list_assistants(
    ctx: Context, limit: Limit = LIMIT_DEFAULT, order: Order = "desc", after: After = None, before: Before = None
) -> dict[str, Any]:
    user = request_user(ctx)

    def listed() -> dict[str, Any]:
        queryset = Assistant.objects.usable_by(user).select_related("provider").prefetch_related("mcp_servers")
        return page(queryset, _page_params(limit, order, after, before), assistant_object)

    return await sync_to_async(listed)()


@_tool("Create an assistant you own.")
async def create_assistant(
    ctx: Context,
    model: Annotated[
        str,
        Field(
            description="'<provider>/<model>', a provider's name for its default model (e.g. 'Offline'), "
            "or a model that is some enabled provider's default."
        ),
    ],
    name: Annotated[str | None, Field(description="The assistant's name.", max_length=256)] = None,
    instructions: Annotated[str | None, Field(description="The system instructions.")] = None,
    description: Annotated[str | None, Field(max_length=512)] = None,
    tools: Annotated[
        list[McpServerTool] | None, Field(description="MCP servers the assistant may call tools on.")
    ] = None,
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None,
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None,
    metadata: Metadata = None,
) -> dict[str, Any]:
    user = request_user(ctx)
    values = {
        "model": model,
        "name": name,
        "instructions": instructions,
        "description": description,
        "tools": tools,
        "temperature": temperature,
        "top_p": top_p,
        "metadata": metadata,
    }
    values = {key: value for key, value in values.items() if value is not None}

    def created() -> dict[str, Any]:
        fields = _assistant_fields(user, values)
        fields.setdefault("name", assistants_api.DEFAULT_NAME)
        return _assistant_read(assistant_create(user=user, **fields))

    return await sync_to_async(created)()


@_tool("Get an assistant by id.", read_only=True)
async def get_assistant(ctx: Context, assistant_id: AssistantId) -> dict[str, Any]:
    user = request_user(ctx)
    return await sync_to_async(lambda: _assistant_read(assistant_get(user=user, assistant_id=assistant_id)))()


@_tool(
    "Change an assistant you own. Only the fields you send change; send null for temperature or top_p "
    "to clear them, an empty list of tools to detach every MCP server."
)
async def update_assistant(
    ctx: Context,
    assistant_id: AssistantId,
    model: Annotated[str | None, Field(description="As in create_assistant.")] = None,
    name: Annotated[str | None, Field(max_length=256)] = None,
    instructions: str | None = None,
    description: Annotated[str | None, Field(max_length=512)] = None,
    tools: list[McpServerTool] | None = None,
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None,
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None,
    metadata: Metadata = None,
) -> dict[str, Any]:
    user = request_user(ctx)
    arguments = {
        "model": model,
        "name": name,
        "instructions": instructions,
        "description": description,
        "tools": tools,
        "temperature": temperature,
        "top_p": top_p,
        "metadata": metadata,
    }
    given = _given(ctx)
    # Null is "clear" only where the field can be empty; elsewhere an explicit null is "leave as it is".
    clearable = ("temperature", "top_p")
    values = {
        key: value for key, value in arguments.items() if key in given and (value is not None or key in clearable)
    }
    if "tools" in given and tools is None:
        values["tools"] = []

    def updated() -> dict[str, Any]:
        assistant = assistant_get(user=user, assistant_id=assistant_id, for_update=True)
        fields = _assistant_fields(user, values, assistant=assistant)
        return _assistant_read(assistant_update(user=user, assistant=assistant, **fields))

    return await sync_to_async(updated)()


@_tool("Delete an assistant you own. Its threads stay.", destructive=True)
async def delete_assistant(ctx: Context, assistant_id: AssistantId) -> dict[str, Any]:
    user = request_user(ctx)

    def deleted() -> dict[str, Any]:
        assistant_delete(user=user, assistant=assistant_get(user=user, assistant_id=assistant_id, for_update=True))
        return _deleted(assistant_id, "assistant")

    return await sync_to_async(deleted)()


# --- Threads and messages ---------------------------------------------------------------------------------------


def _thread(user: AbstractBaseUser, thread_id: str) -> Any:
    return selectors.conversation_get_for_user(user=user, conversation_id=thread_id)


def _run(user: AbstractBaseUser, thread_id: str, run_id: str) -> Run:
    return selectors.run_get_for_user(user=user, run_id=run_id, conversation_id=thread_id)


@_tool("Create a thread (a conversation), optionally for an assistant and with initial messages.")
async def create_thread(
    ctx: Context,
    assistant_id: Annotated[
        str | None, Field(description="The assistant the thread is for; runs default to it.", max_length=64)
    ] = None,
    messages: Annotated[list[MessageInput] | None, Field(description="Messages to start the thread with.")] = None,
    metadata: Metadata = None,
) -> dict[str, Any]:
    user = request_user(ctx)
    initial = [message.model_dump() for message in messages or []]

    def created() -> dict[str, Any]:
        conversation = services.conversation_create(
            user=user, assistant_id=assistant_id, metadata=metadata, messages=initial
        )
        return thread_object(conversation)

    return await sync_to_async(created)()


@_tool("Get a thread by id.", read_only=True)
async def get_thread(ctx: Context, thread_id: ThreadId) -> dict[str, Any]:
    user = request_user(ctx)
    return await sync_to_async(lambda: thread_object(_thread(user, thread_id)))()


@_tool("Delete a thread with its messages and runs. Refused while a run is active.", destructive=True)
async def delete_thread(ctx: Context, thread_id: ThreadId) -> dict[str, Any]:
    user = request_user(ctx)

    def deleted() -> dict[str, Any]:
        services.conversation_delete(user=user, conversation_id=thread_id)
        return _deleted(thread_id, "thread")

    return await sync_to_async(deleted)()


@_tool(
    "Add a message to a thread. This does not start a run: call create_run for an answer. "
    "Refused while a run is active."
)
async def create_message(
    ctx: Context,
    thread_id: ThreadId,
    content: Annotated[str, Field(description="The message text.")],
    role: Annotated[Literal["user", "assistant"], Field(description="Who wrote the message.")] = "user",
    metadata: Metadata = None,
) -> dict[str, Any]:
    message, _ = await services.message_create(
        user=request_user(ctx), conversation_id=thread_id, content=content, role=role, metadata=metadata
    )
    return message_object(message)


@_tool("List a thread's messages, newest first by default.", read_only=True)
async def list_messages(
    ctx: Context,
    thread_id: ThreadId,
    run_id: Annotated[str | None, Field(description="Only the messages of this run.")] = None,
    limit: Limit = LIMIT_DEFAULT,
    order: Order = "desc",
    after: After = None,
    before: Before = None,
) -> dict[str, Any]:
    user = request_user(ctx)

    def listed() -> dict[str, Any]:
        queryset = selectors.conversation_messages(conversation=_thread(user, thread_id))
        if run_id:
            queryset = queryset.filter(run_id=run_id)
        return page(queryset, _page_params(limit, order, after, before), message_object)

    return await sync_to_async(listed)()


# --- Runs and run steps -----------------------------------------------------------------------------------------


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
    if _http_user(request) is not None and request.request_id is not None:
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


@_tool(
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


@_tool("Get a run by id.", read_only=True)
async def get_run(ctx: Context, thread_id: ThreadId, run_id: RunId) -> dict[str, Any]:
    user = request_user(ctx)
    return await sync_to_async(lambda: run_object(_run(user, thread_id, run_id)))()


@_tool("List a thread's runs, newest first by default.", read_only=True)
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
        queryset = Run.objects.filter(conversation=_thread(user, thread_id))
        return page(queryset, _page_params(limit, order, after, before), run_object)

    return await sync_to_async(listed)()


@_tool("Cancel an active run and return it once it has stopped.", destructive=True)
async def cancel_run(ctx: Context, thread_id: ThreadId, run_id: RunId) -> dict[str, Any]:
    run = await services.run_cancel(user=request_user(ctx), run_id=run_id, conversation_id=thread_id)
    return run_object(run)


@_tool(
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


@_tool("List a run's steps (its tool calls and the messages it wrote), newest first by default.", read_only=True)
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
            _page_params(limit, order, after, before),
            lambda step: run_step_data(step, run),
        )

    return await sync_to_async(listed)()
