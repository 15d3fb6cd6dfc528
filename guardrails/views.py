"""Guardrail pages, under their assistant's: thin callers of guardrails.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from assistants.models import Assistant
from assistants.services import assistant_get
from core.errors import ServiceError
from guardrails import services
from guardrails.forms import GuardrailForm


def _editable_assistant_or_404(request: HttpRequest, asst_id: str) -> Assistant:
    try:
        return assistant_get(user=request.user, assistant_id=asst_id, for_update=True)
    except ServiceError as exc:
        if exc.code == "permission_denied":
            raise PermissionDenied(exc.message) from None
        raise Http404("Assistant not found") from None


@login_required
@require_http_methods(["GET", "POST"])
def guardrail_create(request: HttpRequest, asst_id: str) -> HttpResponse:
    assistant = _editable_assistant_or_404(request, asst_id)
    posted = request.POST if request.method == "POST" else None
    form = GuardrailForm(posted, user=request.user, assistant=assistant)
    if request.method == "POST" and form.is_valid():
        try:
            guardrail = services.guardrail_create(user=request.user, assistant=assistant, **form.service_fields())
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Added the guardrail {guardrail.name}.")
            return redirect("assistants:assistant_detail", asst_id=assistant.pk)
    return render(request, "guardrails/guardrail_form.html", {"form": form, "assistant": assistant})


@login_required
@require_POST
def guardrail_delete(request: HttpRequest, asst_id: str, guardrail_id: int) -> HttpResponse:
    assistant = _editable_assistant_or_404(request, asst_id)
    try:
        services.guardrail_delete(user=request.user, assistant=assistant, guardrail_id=guardrail_id)
    except ServiceError:
        raise Http404("Guardrail not found") from None
    messages.success(request, "Removed the guardrail.")
    return redirect("assistants:assistant_detail", asst_id=assistant.pk)
