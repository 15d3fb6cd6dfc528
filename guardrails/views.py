"""Guardrail pages, under their assistant's: thin callers of guardrails.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from assistants.views import assistant_or_404
from core.errors import ServiceError
from guardrails import services
from guardrails.forms import GuardrailForm


@login_required
@require_http_methods(["GET", "POST"])
def guardrail_create(request: HttpRequest, asst_id: str) -> HttpResponse:
    assistant = assistant_or_404(request, asst_id, for_update=True)
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
    assistant = assistant_or_404(request, asst_id, for_update=True)
    try:
        services.guardrail_delete(user=request.user, assistant=assistant, guardrail_id=guardrail_id)
    except ServiceError:
        raise Http404("Guardrail not found") from None
    messages.success(request, "Removed the guardrail.")
    return redirect("assistants:assistant_detail", asst_id=assistant.pk)
