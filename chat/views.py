from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from assistants.models import Assistant
from chat import selectors, services
from chat.errors import ServiceError
from chat.models import Conversation, Message, Run


@login_required
@require_GET
def conversation_list(request: HttpRequest) -> HttpResponse:
    conversations = selectors.conversation_list(user=request.user)[:100]
    assistants = Assistant.objects.usable_by(request.user).select_related("provider")
    return render(request, "chat/conversation_list.html", {"conversations": conversations, "assistants": assistants})


@login_required
@require_POST
def conversation_create(request: HttpRequest) -> HttpResponse:
    try:
        conversation = services.conversation_create(user=request.user, assistant_id=request.POST.get("assistant", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("chat:conversation_list")
    return redirect("chat:conversation_detail", thread_id=conversation.pk)


@login_required
@require_GET
def conversation_detail(request: HttpRequest, thread_id: str) -> HttpResponse:
    try:
        conversation = selectors.conversation_get(user=request.user, thread_id=thread_id)
    except Conversation.DoesNotExist:
        raise Http404("Conversation not found") from None
    history = selectors.conversation_history(conversation_id=conversation.pk)
    active_run = selectors.conversation_active_run(conversation_id=conversation.pk)
    entries: list[dict] = []
    for item in history:
        kind = "message" if isinstance(item, Message) else "step"
        entries.append({"kind": kind, "item": item, "run_id": item.run_id})
    # A run that ended badly shows its status where its answer would be.
    for run in conversation.runs.exclude(status__in=["completed", *Run.ACTIVE]):
        last = max((i for i, e in enumerate(entries) if e["run_id"] == run.pk), default=len(entries) - 1)
        entries.insert(last + 1, {"kind": "run", "item": run, "run_id": run.pk})
    return render(
        request,
        "chat/conversation_detail.html",
        {
            "conversation": conversation,
            "entries": entries,
            "active_run": active_run,
        },
    )
