from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from assistants.models import Assistant
from assistants.services import provider_models_known
from chat import exports, selectors, services, sharing, timeline
from chat.models import Conversation, RunStep
from chat.services import mcp_context
from chat.tool_results import app_tool_result, app_uri, part_payload
from core.errors import ServiceError
from core.preferences import default_assistant_for, preference_get

CONVERSATIONS_PER_PAGE = 20
# The chat page's sidebar lists this many of the newest conversations; the list page has the rest.
SIDEBAR_CONVERSATIONS = 50


def _conversation(request: HttpRequest, thread_id: str) -> Conversation:
    try:
        return selectors.conversation_get_for_user(user=request.user, conversation_id=thread_id)
    except ServiceError:
        raise Http404("Conversation not found") from None


@login_required
@require_GET
def conversation_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    archived = request.GET.get("archived") == "1"
    conversations = selectors.conversation_filter(user=request.user, query=query, archived=archived)
    page = Paginator(conversations, CONVERSATIONS_PER_PAGE).get_page(request.GET.get("page"))
    assistants = Assistant.objects.usable_by(request.user).select_related("provider")
    default = _new_chat_assistant(request)
    return render(
        request,
        "chat/conversation_list.html",
        {
            "page": page,
            "assistants": assistants,
            "default_assistant_id": default.pk if default else None,
            "query": query,
            "archived": archived,
        },
    )


@login_required
@require_POST
def conversation_create(request: HttpRequest) -> HttpResponse:
    assistant_id = request.POST.get("assistant", "")
    if not assistant_id:  # "New chat" without a choice: the user's default assistant
        default = _new_chat_assistant(request)
        assistant_id = default.pk if default else ""
    try:
        conversation = services.conversation_create(user=request.user, assistant_id=assistant_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("chat:conversation_list")
    return redirect("chat:conversation_detail", thread_id=conversation.pk)


@login_required
@require_GET
def conversation_detail(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = _conversation(request, thread_id)
    state = timeline.conversation_state(conversation=conversation)
    latest = state["latest_run"]
    query = request.GET.get("q", "").strip()[:200]
    sidebar = selectors.conversation_filter(user=request.user, query=query)[:SIDEBAR_CONVERSATIONS]
    return render(
        request,
        "chat/conversation_detail.html",
        {
            "conversation": conversation,
            "state": state,
            "latest_failed": bool(latest) and latest["status"] != "completed",
            "sidebar": sidebar,
            "sidebar_query": query,
            "new_chat_assistant": _new_chat_assistant(request),
            "sidebar_collapsed": preference_get(user=request.user).sidebar_collapsed,
            "assistants": Assistant.objects.usable_by(request.user).order_by("name", "pk"),
            "models": provider_models_known(user=request.user, provider=conversation.assistant.provider)
            if conversation.assistant
            else [],
            "sharing_enabled": sharing.sharing_enabled(),
        },
    )


def _header_switch(
    request: HttpRequest, thread_id: str, switch: Callable[..., Conversation], said: Callable[[Conversation], str]
) -> HttpResponse:
    """Post/redirect/get for a switch in the chat header: what `said` says it did, or why it was refused."""
    conversation = _conversation(request, thread_id)
    try:
        conversation = switch(user=request.user, conversation_id=conversation.pk)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, said(conversation))
    return redirect("chat:conversation_detail", thread_id=conversation.pk)


@login_required
@require_POST
def conversation_assistant(request: HttpRequest, thread_id: str) -> HttpResponse:
    """The chat header's assistant switch: another assistant answers from the next message on."""
    return _header_switch(
        request,
        thread_id,
        partial(services.conversation_assistant_switch, assistant_id=request.POST.get("assistant", "")),
        lambda conversation: f"{conversation.assistant.name} answers from the next message on.",
    )


@login_required
@require_POST
def conversation_model(request: HttpRequest, thread_id: str) -> HttpResponse:
    """The chat header's model switch: the assistant answers with another model from the next message on."""

    def said(conversation: Conversation) -> str:
        which = conversation.model or f"its own model, {conversation.model_name},"
        return f"{conversation.assistant.name} answers with {which} from the next message on."

    return _header_switch(
        request, thread_id, partial(services.conversation_model_switch, model=request.POST.get("model", "")), said
    )


@login_required
@require_http_methods(["GET", "POST"])
def conversation_share(request: HttpRequest, thread_id: str) -> HttpResponse:
    """Make or revoke the conversation's read-only link."""
    conversation = _conversation(request, thread_id)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "revoke":
                sharing.share_revoke(user=request.user, conversation_id=conversation.pk)
                messages.success(request, "The link is revoked: it opens nothing now.")
            else:
                sharing.share_create(user=request.user, conversation_id=conversation.pk)
                messages.success(request, "Anyone with the link can read this conversation now.")
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("chat:conversation_share", thread_id=conversation.pk)
    link = (
        request.build_absolute_uri(reverse("chat:shared_conversation", args=[conversation.share_token]))
        if conversation.share_token
        else ""
    )
    return render(
        request,
        "chat/conversation_share.html",
        {"conversation": conversation, "link": link, "sharing_enabled": sharing.sharing_enabled()},
    )


@require_GET
def shared_conversation(request: HttpRequest, token: str) -> HttpResponse:
    """A conversation as its link shows it, to anyone: the branch its owner shows, without controls."""
    try:
        conversation = sharing.shared_conversation_get(token=token)
    except ServiceError:
        raise Http404("This link is not shared, or no longer.") from None
    response = render(
        request,
        "chat/shared_conversation.html",
        {"conversation": conversation, "entries": timeline.shared_entries(conversation=conversation)},
    )
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _new_chat_assistant(request: HttpRequest) -> Assistant | None:
    """The assistant "New chat" starts with: the user's default, else the site's, else the first by name."""
    return default_assistant_for(user=request.user, usable=Assistant.objects.usable_by(request.user))


def _back_to(request: HttpRequest, default: str, **kwargs: str) -> HttpResponse:
    """Back to the page the form was on (`next`, on this site only), else to `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default, **kwargs)


@login_required
@require_http_methods(["GET", "POST"])
def conversation_rename(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = _conversation(request, thread_id)
    error = ""
    if request.method == "POST":
        try:
            services.conversation_rename(
                user=request.user, conversation_id=conversation.pk, title=request.POST.get("title")
            )
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(request, "Conversation renamed.")
            return redirect("chat:conversation_detail", thread_id=conversation.pk)
    title = request.POST.get("title", conversation.title) if request.method == "POST" else conversation.title
    status = 400 if error else 200
    return render(
        request,
        "chat/conversation_rename.html",
        {"conversation": conversation, "title": title, "error": error},
        status=status,
    )


@login_required
@require_POST
def conversation_archive(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = _conversation(request, thread_id)
    services.conversation_archive(user=request.user, conversation_id=conversation.pk, archived=True)
    messages.success(request, f"Archived “{conversation}”. Find it under Archived.")
    return _back_to(request, "chat:conversation_list")


@login_required
@require_POST
def conversation_unarchive(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = _conversation(request, thread_id)
    services.conversation_archive(user=request.user, conversation_id=conversation.pk, archived=False)
    messages.success(request, f"Unarchived “{conversation}”.")
    return redirect("chat:conversation_detail", thread_id=conversation.pk)


@login_required
@require_http_methods(["GET", "POST"])
def conversation_delete(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = _conversation(request, thread_id)
    if request.method == "POST":
        try:
            services.conversation_delete(user=request.user, conversation_id=conversation.pk)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("chat:conversation_detail", thread_id=conversation.pk)
        messages.success(request, f"Deleted “{conversation}”.")
        return redirect("chat:conversation_list")
    return render(request, "chat/conversation_delete.html", {"conversation": conversation})


@login_required
@require_GET
def conversation_export(request: HttpRequest, thread_id: str, fmt: str) -> HttpResponse:
    conversation = _conversation(request, thread_id)
    if fmt == "json":
        body, content_type = exports.conversation_export_json(conversation=conversation), "application/json"
    else:
        body, content_type = exports.conversation_export_markdown(conversation=conversation), "text/markdown"
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = exports.conversation_export_disposition(conversation=conversation, extension=fmt)
    return response


@login_required
@require_GET
def step_output(request: HttpRequest, thread_id: str, step_id: str) -> HttpResponse:
    """A tool call's whole result, as plain text: the page shows it cut short past a limit."""
    step = _tool_step(request, thread_id, step_id)
    response = HttpResponse(step.output or step.error, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def step_content(request: HttpRequest, thread_id: str, step_id: str, index: int) -> HttpResponse:
    """An image or audio clip a tool returned, for its card; only the types a browser shows and runs no script in."""
    payload = part_payload(_tool_step(request, thread_id, step_id), index)
    if payload is None:
        raise Http404("No such part")
    data, mime_type = payload
    response = HttpResponse(data, content_type=mime_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _tool_step(request: HttpRequest, thread_id: str, step_id: str) -> RunStep:
    """A tool call's step in one of the user's conversations; 404 for anyone else's."""
    conversation = _conversation(request, thread_id)
    step = RunStep.objects.filter(pk=step_id, run__conversation=conversation, type=RunStep.Type.TOOL_CALLS).first()
    if step is None:
        raise Http404("Tool call not found")
    return step


def _json_error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


async def _mcp_answer(call: Any, request: HttpRequest, thread_id: str, **fields: Any) -> JsonResponse:
    """Run one of the composer picker's services for the signed-in user: its answer, or its error and status."""
    try:
        return JsonResponse(await call(user=await request.auser(), thread_id=thread_id, **fields))
    except ServiceError as exc:
        return _json_error(exc.code, exc.message, exc.status)


def _json_object(request: HttpRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@login_required
@require_GET
async def conversation_mcp_catalog(request: HttpRequest, thread_id: str) -> JsonResponse:
    """The resources and prompts of the conversation's MCP servers, for the composer's picker."""
    return await _mcp_answer(mcp_context.conversation_mcp_catalog, request, thread_id)


@login_required
@require_POST
async def conversation_mcp_resource(request: HttpRequest, thread_id: str) -> JsonResponse:
    """A resource's contents (`{"server", "uri"}`), to go into the message."""
    body = _json_object(request)
    if body is None:
        return _json_error("invalid_json", "Send a JSON object.", 400)
    return await _mcp_answer(
        mcp_context.conversation_mcp_resource, request, thread_id, server_name=body.get("server"), uri=body.get("uri")
    )


@login_required
@require_POST
async def conversation_mcp_prompt(request: HttpRequest, thread_id: str) -> JsonResponse:
    """A prompt rendered with its arguments (`{"server", "name", "arguments"}`), to fill the message box."""
    body = _json_object(request)
    if body is None:
        return _json_error("invalid_json", "Send a JSON object.", 400)
    return await _mcp_answer(
        mcp_context.conversation_mcp_prompt,
        request,
        thread_id,
        server_name=body.get("server"),
        name=body.get("name"),
        arguments=body.get("arguments"),
    )


@login_required
@require_GET
async def step_resource(request: HttpRequest, thread_id: str, step_id: str, index: int) -> HttpResponse:
    """What a tool's resource link points to, read from its server (`resources/read`) for the owner, as text."""
    step = await sync_to_async(_tool_step)(request, thread_id, step_id)
    parts = step.content or []
    if not 0 <= index < len(parts) or parts[index]["type"] != "resource_link":
        raise Http404("No such resource link")
    try:
        read = await mcp_context.conversation_mcp_resource(
            user=await request.auser(), thread_id=thread_id, server_name=step.server_name, uri=parts[index]["uri"]
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(read["text"], content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# A tool's view runs the server's own script, so its document is sandboxed whoever opens it (the `sandbox` directive:
# an opaque origin, no same-origin access to Switchboard, no top navigation, popups or forms) and reaches nothing
# outside itself: inline script and style only, images and fonts inline, no connections, no frames, no plugins.
APP_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; media-src data:; "
    "font-src data:; connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox allow-scripts"
)


@login_required
@require_GET
async def step_app(request: HttpRequest, thread_id: str, step_id: str) -> HttpResponse:
    """A tool's view (MCP Apps): the HTML of its `ui://` resource, read from its server for the owner, for the
    sandboxed frame on its card."""
    step = await sync_to_async(_tool_step)(request, thread_id, step_id)
    uri = app_uri(step)
    if not uri:
        raise Http404("This tool call has no view")
    try:
        html = await mcp_context.conversation_mcp_app(
            user=await request.auser(), thread_id=thread_id, server_name=step.server_name, uri=uri
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        html, status = f"<!doctype html><title>No view</title><p>{escape(exc.message)}</p>", 502
    else:
        status = 200
    response = HttpResponse(html, content_type="text/html; charset=utf-8", status=status)
    response["Content-Security-Policy"] = APP_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def step_app_data(request: HttpRequest, thread_id: str, step_id: str) -> JsonResponse:
    """What the page sends a tool's view (MCP Apps): the call's arguments and its result as MCP has it."""
    step = _tool_step(request, thread_id, step_id)
    if not app_uri(step):
        raise Http404("This tool call has no view")
    try:
        arguments = json.loads(step.arguments or "{}")
    except ValueError:
        arguments = {}
    return JsonResponse(
        {
            "tool": {"name": step.tool_name},
            "arguments": arguments if isinstance(arguments, dict) else {},
            "result": app_tool_result(step),
        }
    )
