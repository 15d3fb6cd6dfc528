from __future__ import annotations

from django.urls import path

from guardrails import views

app_name = "guardrails"

urlpatterns = [
    path("<str:asst_id>/guardrails/new", views.guardrail_create, name="guardrail_create"),
    path("<str:asst_id>/guardrails/<int:guardrail_id>/delete", views.guardrail_delete, name="guardrail_delete"),
]
