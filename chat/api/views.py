"""Threads, messages, runs and run steps in the OpenAI Assistants v2 wire format.

Views check access, parse the request and call chat.services; every lookup is scoped to the token's
user, so another user's object is a 404 like a missing one. Views that start runs are async: the
executor runs each run on the process's event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from chat import services
from chat.api import parsing, streaming
from chat.api.errors import service_api_error
from chat.errors import ServiceError
from chat.events import event_send
from chat.models import Conversation, Message, Run, RunStep
from chat.serializers import message_object, run_object, run_step_data, thread_object
from core.api import api_view, body_parse, fields_check, invalid, not_found, page, page_params, query_check

# The run steps endpoints take OpenAI's `include[]`; Switchboard's steps carry everything already.
STEP_INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
INCLUDE_QUERY = ("include[]",)
# How soon the openai client's polling helpers should ask again about an active run.
POLL_AFTER_MS = "250"


def chat_view(*methods: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return api_view(*methods, errors=service_api_error)


def _thread(user: Any, thread_id: str) -> Conversation:
    try:
        return Conversation.objects.get(pk=thread_id, owner=user)
    except Conversation.DoesNotExist:
        raise not_found(f"No thread found with id '{thread_id}'.") from None


def _message(user: Any, thread_id: str, message_id: str) -> Message:
    try:
        return Message.objects.get(pk=message_id, conversation_id=thread_id, conversation__owner=user)
    except Message.DoesNotExist:
        raise not_found(f"No message found with id '{message_id}'.") from None


def _run(user: Any, thread_id: str, run_id: str) -> Run:
    try:
        return Run.objects.get(pk=run_id, conversation_id=thread_id, conversation__owner=user)
    except Run.DoesNotExist:
        raise not_found(f"No run found with id '{run_id}'.") from None


def _include_check(request: HttpRequest) -> None:
    for value in request.GET.getlist("include[]"):
        if value != STEP_INCLUDE:
            raise invalid(f"Unknown include value: {value[:100]}", param="include[]")


def _run_response(run: Run) -> JsonResponse:
    response = JsonResponse(run_object(run))
    if run.status not in services.SETTLED_STATUSES:
        response["openai-poll-after-ms"] = POLL_AFTER_MS
    return response


# --- Threads ------------------------------------------------------------------------------------------------------


@chat_view("POST")
def threads(request: HttpRequest) -> HttpResponse:
    fields = parsing.thread_parse(body_parse(request))
    conversation = services.thread_create(user=request.user, **fields)
    return JsonResponse(thread_object(conversation))


@chat_view("GET", "POST", "DELETE")
def thread_detail(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = _thread(request.user, thread_id)
    if request.method == "POST":
        metadata = parsing.metadata_parse(body_parse(request), unsupported=("tool_resources",))
        if metadata is not None:
            conversation = services.thread_update(user=request.user, thread_id=thread_id, metadata=metadata)
    elif request.method == "DELETE":
        services.thread_delete(user=request.user, thread_id=conversation.pk)
        return JsonResponse({"id": thread_id, "object": "thread.deleted", "deleted": True})
    return JsonResponse(thread_object(conversation))


# --- Messages -----------------------------------------------------------------------------------------------------


@chat_view("GET", "POST")
def messages(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = _thread(request.user, thread_id)
    if request.method == "POST":
        fields = parsing.message_parse(body_parse(request))
        message = services.message_add(user=request.user, thread_id=conversation.pk, **fields)
        # Someone may be watching the thread's page: show them the message as it arrives.
        async_to_sync(event_send)(conversation.pk, "thread.message.created", message_object(message))
        return JsonResponse(message_object(message))
    params = page_params(request, extra=("run_id",))
    queryset = Message.objects.filter(conversation=conversation)
    if request.GET.get("run_id"):
        queryset = queryset.filter(run_id=request.GET["run_id"])
    return JsonResponse(page(queryset, params, message_object))


@chat_view("GET", "POST")
def message_detail(request: HttpRequest, thread_id: str, message_id: str) -> HttpResponse:
    message = _message(request.user, thread_id, message_id)
    metadata = parsing.metadata_parse(body_parse(request)) if request.method == "POST" else None
    if metadata is not None:
        message = services.message_update(
            user=request.user, message_id=message.pk, thread_id=thread_id, metadata=metadata
        )
    return JsonResponse(message_object(message))


# --- Runs ---------------------------------------------------------------------------------------------------------


async def _run_start(
    request: HttpRequest, thread_id: str, run: parsing.RunRequest, *, thread: Conversation | None = None
) -> HttpResponse:
    """Start a run on a thread; streamed, the events follow from the run's creation on (or the thread's)."""
    if not run.stream:
        created = await services.run_create(
            user=request.user, thread_id=thread_id, assistant_id=run.assistant_id, **run.options
        )
        return _run_response(created)
    subscription = await streaming.subscribe(thread_id)
    try:
        if thread is not None:
            await event_send(thread_id, "thread.created", thread_object(thread))
        created = await services.run_create(
            user=request.user, thread_id=thread_id, assistant_id=run.assistant_id, **run.options
        )
    except BaseException:
        await subscription.close()
        raise
    return streaming.stream_response(subscription, created.pk)


@chat_view("GET", "POST")
async def runs(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = await sync_to_async(_thread)(request.user, thread_id)
    if request.method == "POST":
        query_check(request, known=INCLUDE_QUERY)
        _include_check(request)
        return await _run_start(request, conversation.pk, parsing.run_parse(body_parse(request)))
    params = page_params(request)

    def listed() -> dict[str, Any]:
        return page(Run.objects.filter(conversation=conversation), params, run_object)

    return JsonResponse(await sync_to_async(listed)())


@chat_view("POST")
async def thread_and_run(request: HttpRequest) -> HttpResponse:
    run = parsing.create_and_run_parse(body_parse(request))
    conversation = await sync_to_async(services.thread_create)(
        user=request.user, assistant_id=run.assistant_id, **run.thread
    )
    try:
        return await _run_start(request, conversation.pk, run, thread=conversation)
    except ServiceError:
        # Creating the thread and its run is one request: a run refused leaves no thread behind.
        await sync_to_async(services.thread_delete)(user=request.user, thread_id=conversation.pk)
        raise


@chat_view("GET", "POST")
def run_detail(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    run = _run(request.user, thread_id, run_id)
    metadata = parsing.metadata_parse(body_parse(request)) if request.method == "POST" else None
    if metadata is not None:
        run = services.run_update(user=request.user, run_id=run.pk, thread_id=thread_id, metadata=metadata)
    return _run_response(run)


@chat_view("POST")
async def run_cancel(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    run = await sync_to_async(_run)(request.user, thread_id, run_id)
    fields_check(body_parse(request), known=())
    await services.run_cancel(user=request.user, run_id=run.pk)
    # A running task ends itself as cancelled; answer as OpenAI does, with the run on its way there.
    run = await Run.objects.aget(pk=run.pk)
    if run.is_active and run.status != Run.Status.CANCELLING:
        run.status = Run.Status.CANCELLING
    return _run_response(run)


@chat_view("POST")
async def run_submit_tool_outputs(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    run = await sync_to_async(_run)(request.user, thread_id, run_id)
    decisions, stream = parsing.tool_outputs_parse(body_parse(request))
    if run.status != Run.Status.REQUIRES_ACTION:
        raise ServiceError("run_not_paused", f"Run {run.pk} is {run.status}, not waiting for tool outputs.")
    pending = {
        call.get("id")
        for call in ((run.metadata or {}).get("required_action") or {})
        .get("submit_tool_outputs", {})
        .get("tool_calls", [])
    }
    for index, decision in enumerate(decisions):
        if decision.tool_call_id not in pending:
            raise invalid(
                f"Run {run.pk} is not waiting for tool call '{decision.tool_call_id}'.",
                param=f"tool_outputs[{index}].tool_call_id",
            )
    subscription = await streaming.subscribe(thread_id) if stream else None
    try:
        for decision in decisions:
            await services.run_approve(
                user=request.user,
                run_id=run.pk,
                tool_call_id=decision.tool_call_id,
                approve=decision.approve,
                reason=decision.reason,
            )
    except BaseException:
        if subscription is not None:
            await subscription.close()
        raise
    if subscription is not None:
        return streaming.stream_response(subscription, run.pk)
    return _run_response(await Run.objects.aget(pk=run.pk))


# --- Run steps ----------------------------------------------------------------------------------------------------


@chat_view("GET")
def run_steps(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    run = _run(request.user, thread_id, run_id)
    params = page_params(request, extra=INCLUDE_QUERY)
    _include_check(request)
    return JsonResponse(page(RunStep.objects.filter(run=run), params, lambda step: run_step_data(step, run)))


@chat_view("GET")
def run_step_detail(request: HttpRequest, thread_id: str, run_id: str, step_id: str) -> HttpResponse:
    run = _run(request.user, thread_id, run_id)
    query_check(request, known=INCLUDE_QUERY)
    _include_check(request)
    try:
        step = RunStep.objects.get(pk=step_id, run=run)
    except RunStep.DoesNotExist:
        raise not_found(f"No run step found with id '{step_id}'.") from None
    return JsonResponse(run_step_data(step, run))


@chat_view("GET", "POST", "PUT", "PATCH", "DELETE")
def unknown(request: HttpRequest, rest: str) -> HttpResponse:
    raise not_found(f"Unknown API path: /v1/{rest[:200]}")
