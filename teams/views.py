"""Team links, on their assistant's page: thin callers of teams.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from assistants.models import Assistant
from assistants.views import assistant_or_404
from core.errors import ServiceError
from teams import services


@login_required
@require_POST
def link_create(request: HttpRequest, asst_id: str) -> HttpResponse:
    assistant = assistant_or_404(request, asst_id, for_update=True)
    target = Assistant(pk=request.POST.get("target", ""))
    try:
        link = services.link_create(
            user=request.user,
            assistant=assistant,
            target=target,
            kind=request.POST.get("kind", ""),
            description=request.POST.get("description", ""),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{assistant.name} {link.get_kind_display().lower()} {link.target.name}.")
    return redirect("assistants:assistant_detail", asst_id=assistant.pk)


@login_required
@require_POST
def link_delete(request: HttpRequest, asst_id: str, link_id: int) -> HttpResponse:
    assistant = assistant_or_404(request, asst_id, for_update=True)
    try:
        services.link_delete(user=request.user, assistant=assistant, link_id=link_id)
    except ServiceError:
        raise Http404("Link not found") from None
    messages.success(request, "Removed the link.")
    return redirect("assistants:assistant_detail", asst_id=assistant.pk)
