"""Threads, messages, runs and run steps in the OpenAI Assistants v2 wire format.

Views check access, parse the request and call chat.services; every lookup is scoped to the token's
user, so another user's object is a 404 like a missing one. Views that start runs are async: the
executor runs each run on the process's event loop.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from chat import selectors, services
from chat.api import parsing, streaming
from chat.citations import thread_vector_store_ids
from chat.models import Run, RunStep
from chat.serializers import message_object, run_object, run_step_data, thread_object
from core.api import api_view, body_parse, fields_check, invalid, not_found, page, page_params, query_check
from core.ids import new_thread_id
from files.services import vector_stores_index_pending

# The run steps endpoints take OpenAI's `include[]`: with it, a file_search step's results carry their text.
STEP_INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
INCLUDE_QUERY = ("include[]",)
# How soon the openai client's polling helpers should ask again about an active run.
POLL_AFTER_MS = "250"

chat_view = api_view  # every refusal is a ServiceError, answered by core.api's one translator


def _include_check(request: HttpRequest) -> bool:
    """Whether the request asks for the results' content (the one include[] value there is)."""
    for value in request.GET.getlist("include[]"):
        if value != STEP_INCLUDE:
            raise invalid(f"Unknown include value: {value[:100]}", param="include[]")
    return bool(request.GET.getlist("include[]"))


def _run_response(run: Run) -> JsonResponse:
    response = JsonResponse(run_object(run))
    if run.status not in services.SETTLED_STATUSES:
        response["openai-poll-after-ms"] = POLL_AFTER_MS
    return response


async def _streamed(thread_id: str, start: Any) -> HttpResponse:
    """Listen to the thread, then start (or resume) its run, so the stream has every event from the first on."""
    subscription = await streaming.subscribe(thread_id)
    try:
        run = await start()
    except BaseException:
        await subscription.close()
        raise
    # The request's thread would keep its database connection until the stream ends: give it back now, so a
    # crowd of open streams cannot empty the PostgreSQL pool.
    await sync_to_async(close_old_connections)()
    return streaming.stream_response(subscription, run.pk)


# --- Threads ------------------------------------------------------------------------------------------------------


@chat_view("POST")
async def threads(request: HttpRequest) -> HttpResponse:
    fields = parsing.thread_parse(body_parse(request))
    conversation = await sync_to_async(services.conversation_create)(user=request.user, **fields)
    # Its messages' attachments are indexed on this loop, as every upload's.
    await vector_stores_index_pending(
        user_id=conversation.owner_id, vector_store_ids=thread_vector_store_ids(conversation)
    )
    return JsonResponse(thread_object(conversation))


@chat_view("GET", "POST", "DELETE")
def thread_detail(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = selectors.conversation_get_for_user(user=request.user, conversation_id=thread_id)
    if request.method == "DELETE":
        services.conversation_delete(user=request.user, conversation_id=conversation.pk)
        return JsonResponse({"id": thread_id, "object": "thread.deleted", "deleted": True})
    body = body_parse(request) if request.method == "POST" else {}
    metadata = parsing.metadata_parse(body, known=("tool_resources",))
    if metadata is not None or body.get("tool_resources") is not None:
        conversation = services.conversation_update(
            user=request.user, conversation_id=thread_id, metadata=metadata, tool_resources=body.get("tool_resources")
        )
    return JsonResponse(thread_object(conversation))


# --- Messages -----------------------------------------------------------------------------------------------------


@chat_view("GET", "POST")
async def messages(request: HttpRequest, thread_id: str) -> HttpResponse:
    if request.method == "POST":
        fields = parsing.message_parse(body_parse(request), files=True)
        message, _ = await services.message_create(user=request.user, conversation_id=thread_id, **fields)
        return JsonResponse(message_object(message))
    params = page_params(request, extra=("run_id",))

    def listed() -> dict[str, Any]:
        conversation = selectors.conversation_get_for_user(user=request.user, conversation_id=thread_id)
        queryset = selectors.conversation_messages(conversation=conversation)
        if request.GET.get("run_id"):
            queryset = queryset.filter(run_id=request.GET["run_id"])
        return page(queryset, params, message_object)

    return JsonResponse(await sync_to_async(listed)())


@chat_view("GET", "POST", "DELETE")
async def message_detail(request: HttpRequest, thread_id: str, message_id: str) -> HttpResponse:
    if request.method == "DELETE":
        deleted = await services.message_delete(user=request.user, conversation_id=thread_id, message_id=message_id)
        return JsonResponse(deleted)
    return await sync_to_async(_message_detail)(request, thread_id, message_id)


def _message_detail(request: HttpRequest, thread_id: str, message_id: str) -> HttpResponse:
    message = selectors.message_get_for_user(user=request.user, conversation_id=thread_id, message_id=message_id)
    metadata = parsing.metadata_parse(body_parse(request)) if request.method == "POST" else None
    if metadata is not None:
        message = services.message_update(
            user=request.user, conversation_id=thread_id, message_id=message.pk, metadata=metadata
        )
    return JsonResponse(message_object(message))


# --- Runs ---------------------------------------------------------------------------------------------------------


@chat_view("GET", "POST")
async def runs(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_get_for_user)(
        user=request.user, conversation_id=thread_id
    )
    if request.method == "GET":
        params = page_params(request)
        listed = sync_to_async(page)(
            Run.objects.filter(conversation=conversation).select_related("assistant"), params, run_object
        )
        return JsonResponse(await listed)
    query_check(request, known=INCLUDE_QUERY)
    _include_check(request)
    run = parsing.run_parse(body_parse(request))

    async def start() -> Run:
        return await services.run_create(
            user=request.user, conversation_id=thread_id, assistant_id=run.assistant_id, **run.options
        )

    return await _streamed(thread_id, start) if run.stream else _run_response(await start())


@chat_view("POST")
async def thread_and_run(request: HttpRequest) -> HttpResponse:
    run = parsing.create_and_run_parse(body_parse(request))
    thread_id = new_thread_id()  # known before anything happens on it, so a stream can listen from the start

    async def start() -> Run:
        _, created = await services.conversation_run_create(
            user=request.user, conversation_id=thread_id, assistant_id=run.assistant_id, thread=run.thread,
            **run.options,
        )  # fmt: skip
        return created

    return await _streamed(thread_id, start) if run.stream else _run_response(await start())


@chat_view("GET", "POST")
def run_detail(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id, conversation_id=thread_id)
    metadata = parsing.metadata_parse(body_parse(request)) if request.method == "POST" else None
    if metadata is not None:
        run = services.run_update(user=request.user, run_id=run.pk, conversation_id=thread_id, metadata=metadata)
    return _run_response(run)


@chat_view("POST")
async def run_cancel(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    fields_check(body_parse(request), known=())
    run = await services.run_cancel(user=request.user, run_id=run_id, conversation_id=thread_id)
    return _run_response(run)


@chat_view("POST")
async def run_submit_tool_outputs(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    outputs, stream = parsing.tool_outputs_parse(body_parse(request))

    async def submit() -> Run:
        return await services.run_decisions_submit(
            user=request.user, run_id=run_id, conversation_id=thread_id, outputs=outputs
        )

    if stream:
        return await _streamed(thread_id, submit)
    await submit()
    return _run_response(await sync_to_async(selectors.run_get_for_user)(user=request.user, run_id=run_id))


# --- Run steps ----------------------------------------------------------------------------------------------------


@chat_view("GET")
def run_steps(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id, conversation_id=thread_id)
    params = page_params(request, extra=INCLUDE_QUERY)
    content = _include_check(request)
    return JsonResponse(
        page(RunStep.objects.filter(run=run), params, lambda step: run_step_data(step, run, content=content))
    )


@chat_view("GET")
def run_step_detail(request: HttpRequest, thread_id: str, run_id: str, step_id: str) -> HttpResponse:
    query_check(request, known=INCLUDE_QUERY)
    content = _include_check(request)
    step = selectors.run_step_get_for_user(user=request.user, conversation_id=thread_id, run_id=run_id, step_id=step_id)
    return JsonResponse(run_step_data(step, step.run, content=content))


@chat_view("GET", "POST", "PUT", "PATCH", "DELETE")
def unknown(request: HttpRequest, rest: str) -> HttpResponse:
    raise not_found(f"Unknown API path: /v1/{rest[:200]}")
