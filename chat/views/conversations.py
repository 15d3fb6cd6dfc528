"""The conversation pages: the list, the chat page and its header switches, rename, archive, delete, export."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from assistants.models import Assistant
from assistants.services import provider_models_known
from chat import exports, selectors, services, sharing, timeline
from chat.models import Conversation
from core.errors import ServiceError
from core.preferences import default_assistant_for, preference_get

CONVERSATIONS_PER_PAGE = 20
# The chat page's sidebar lists this many of the newest conversations; the list page has the rest.
SIDEBAR_CONVERSATIONS = 50


def conversation_get_or_404(request: HttpRequest, thread_id: str) -> Conversation:
    """One of the user's conversations; 404 for anyone else's."""
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
    conversation = conversation_get_or_404(request, thread_id)
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
    conversation = conversation_get_or_404(request, thread_id)
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
    conversation = conversation_get_or_404(request, thread_id)
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
    conversation = conversation_get_or_404(request, thread_id)
    services.conversation_archive(user=request.user, conversation_id=conversation.pk, archived=True)
    messages.success(request, f"Archived “{conversation}”. Find it under Archived.")
    return _back_to(request, "chat:conversation_list")


@login_required
@require_POST
def conversation_unarchive(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = conversation_get_or_404(request, thread_id)
    services.conversation_archive(user=request.user, conversation_id=conversation.pk, archived=False)
    messages.success(request, f"Unarchived “{conversation}”.")
    return redirect("chat:conversation_detail", thread_id=conversation.pk)


@login_required
@require_http_methods(["GET", "POST"])
def conversation_delete(request: HttpRequest, thread_id: str) -> HttpResponse:
    conversation = conversation_get_or_404(request, thread_id)
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
    conversation = conversation_get_or_404(request, thread_id)
    if fmt == "json":
        body, content_type = exports.conversation_export_json(conversation=conversation), "application/json"
    else:
        body, content_type = exports.conversation_export_markdown(conversation=conversation), "text/markdown"
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = exports.conversation_export_disposition(conversation=conversation, extension=fmt)
    return response
