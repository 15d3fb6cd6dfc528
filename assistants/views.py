"""Assistant management pages: thin callers of assistants.services."""

from __future__ import annotations

import copy

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from assistants import services
from assistants.forms import AssistantForm
from assistants.models import Assistant
from core.errors import ServiceError


def _posted(request: HttpRequest) -> QueryDict | None:
    return request.POST if request.method == "POST" else None


def assistant_or_404(request: HttpRequest, asst_id: str, *, for_update: bool = False) -> Assistant:
    """The assistant of a page (one the user may change, with `for_update`): a 403 or a 404 otherwise."""
    try:
        return services.assistant_get(user=request.user, assistant_id=asst_id, for_update=for_update)
    except ServiceError as exc:
        # A shared assistant a user may see but not change is a 403; anything else looks missing.
        if exc.code == "permission_denied":
            raise PermissionDenied(exc.message) from None
        raise Http404("Assistant not found") from None


@login_required
@require_GET
def assistant_list(request: HttpRequest) -> HttpResponse:
    assistants = list(Assistant.objects.usable_by(request.user).select_related("provider"))
    return render(
        request,
        "assistants/assistant_list.html",
        {
            "own": [a for a in assistants if a.owner_id is not None],
            "shared": [a for a in assistants if a.owner_id is None],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def assistant_create(request: HttpRequest) -> HttpResponse:
    form = AssistantForm(_posted(request), user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            assistant = services.assistant_create(user=request.user, **form.service_fields())
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Created {assistant.name}.")
            return redirect("assistants:assistant_detail", asst_id=assistant.pk)
    return render(request, "assistants/assistant_form.html", {"form": form, "assistant": None})


@login_required
@require_GET
def assistant_detail(request: HttpRequest, asst_id: str) -> HttpResponse:
    assistant = assistant_or_404(request, asst_id)
    return render(
        request,
        "assistants/assistant_detail.html",
        {
            "assistant": assistant,
            "servers": assistant.mcp_servers.order_by("name"),
            "can_edit": services.assistant_can_edit(user=request.user, assistant=assistant),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def assistant_edit(request: HttpRequest, asst_id: str) -> HttpResponse:
    assistant = assistant_or_404(request, asst_id, for_update=True)
    # The form writes posted values onto its instance; the page heading keeps showing the saved assistant.
    form = AssistantForm(_posted(request), instance=copy.copy(assistant), user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            updated = services.assistant_update(user=request.user, assistant=assistant, **form.service_fields())
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Saved {updated.name}.")
            return redirect("assistants:assistant_detail", asst_id=updated.pk)
    return render(request, "assistants/assistant_form.html", {"form": form, "assistant": assistant})


@login_required
@require_http_methods(["GET", "POST"])
def assistant_delete(request: HttpRequest, asst_id: str) -> HttpResponse:
    assistant = assistant_or_404(request, asst_id, for_update=True)
    if request.method == "POST":
        services.assistant_delete(user=request.user, assistant=assistant)
        messages.success(request, f"Deleted {assistant.name}.")
        return redirect("assistants:assistant_list")
    return render(request, "assistants/assistant_confirm_delete.html", {"assistant": assistant})


@login_required
@require_POST
def assistant_duplicate(request: HttpRequest, asst_id: str) -> HttpResponse:
    assistant = assistant_or_404(request, asst_id)
    copy = services.assistant_duplicate(user=request.user, assistant=assistant)
    messages.success(request, f"Created {copy.name}; it is yours to change.")
    return redirect("assistants:assistant_detail", asst_id=copy.pk)


@login_required
@require_POST
async def assistant_knowledge_add(request: HttpRequest, asst_id: str) -> HttpResponse:
    """Files uploaded on an assistant's page become its knowledge (async: their indexing starts on this loop)."""
    user = await request.auser()
    try:
        await services.assistant_knowledge_add(
            user=user, assistant_id=asst_id, uploads=list(request.FILES.getlist("files"))
        )
    except ServiceError as exc:
        if exc.code == "not_found":
            raise Http404("Assistant not found") from None
        messages.error(request, exc.message)
    else:
        messages.success(request, "Added. The files are being read; the assistant searches them once they are ready.")
    return redirect("assistants:assistant_detail", asst_id=asst_id)


@login_required
@require_POST
def assistant_knowledge_remove(request: HttpRequest, asst_id: str, file_id: str) -> HttpResponse:
    try:
        services.assistant_knowledge_remove(user=request.user, assistant_id=asst_id, file_id=file_id)
    except ServiceError as exc:
        if exc.code == "not_found":
            raise Http404("Not found") from None
        messages.error(request, exc.message)
    return redirect("assistants:assistant_detail", asst_id=asst_id)
