"""URLs of the `/v1/` API, mounted by config.urls under `v1/`."""

from __future__ import annotations

from django.urls import path, re_path

from assistants import api as assistants_api
from chat.api import views

urlpatterns = [
    path("assistants", assistants_api.assistants, name="api_assistants"),
    path("assistants/<str:assistant_id>", assistants_api.assistant_detail, name="api_assistant_detail"),
    path("threads", views.threads, name="api_threads"),
    path("threads/runs", views.thread_and_run, name="api_thread_and_run"),
    path("threads/<str:thread_id>", views.thread_detail, name="api_thread_detail"),
    path("threads/<str:thread_id>/messages", views.messages, name="api_messages"),
    path("threads/<str:thread_id>/messages/<str:message_id>", views.message_detail, name="api_message_detail"),
    path("threads/<str:thread_id>/runs", views.runs, name="api_runs"),
    path("threads/<str:thread_id>/runs/<str:run_id>", views.run_detail, name="api_run_detail"),
    path("threads/<str:thread_id>/runs/<str:run_id>/cancel", views.run_cancel, name="api_run_cancel"),
    path(
        "threads/<str:thread_id>/runs/<str:run_id>/submit_tool_outputs",
        views.run_submit_tool_outputs,
        name="api_run_submit_tool_outputs",
    ),
    path("threads/<str:thread_id>/runs/<str:run_id>/steps", views.run_steps, name="api_run_steps"),
    path("threads/<str:thread_id>/runs/<str:run_id>/steps/<str:step_id>", views.run_step_detail, name="api_run_step"),
    # Anything else under /v1/ answers in the API's error envelope, not with an HTML page.
    re_path(r"^(?P<rest>.*)$", views.unknown, name="api_unknown"),
]
