from __future__ import annotations

from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("conversations/", views.conversation_create, name="conversation_create"),
    path("conversations/<str:thread_id>/", views.conversation_detail, name="conversation_detail"),
    path("conversations/<str:thread_id>/rename/", views.conversation_rename, name="conversation_rename"),
    path("conversations/<str:thread_id>/archive/", views.conversation_archive, name="conversation_archive"),
    path("conversations/<str:thread_id>/unarchive/", views.conversation_unarchive, name="conversation_unarchive"),
    path("conversations/<str:thread_id>/delete/", views.conversation_delete, name="conversation_delete"),
    path("conversations/<str:thread_id>/assistant/", views.conversation_assistant, name="conversation_assistant"),
    path("conversations/<str:thread_id>/model/", views.conversation_model, name="conversation_model"),
    path("conversations/<str:thread_id>/share/", views.conversation_share, name="conversation_share"),
    path("shared/<str:token>/", views.shared_conversation, name="shared_conversation"),
    path("conversations/<str:thread_id>/steps/<str:step_id>/output", views.step_output, name="step_output"),
    path(
        "conversations/<str:thread_id>/steps/<str:step_id>/content/<int:index>",
        views.step_content,
        name="step_content",
    ),
    path(
        "conversations/<str:thread_id>/steps/<str:step_id>/resource/<int:index>",
        views.step_resource,
        name="step_resource",
    ),
    path("conversations/<str:thread_id>/steps/<str:step_id>/app", views.step_app, name="step_app"),
    path("conversations/<str:thread_id>/steps/<str:step_id>/app/data", views.step_app_data, name="step_app_data"),
    path("conversations/<str:thread_id>/mcp/", views.conversation_mcp_catalog, name="mcp_catalog"),
    path("conversations/<str:thread_id>/mcp/resource", views.conversation_mcp_resource, name="mcp_resource"),
    path("conversations/<str:thread_id>/mcp/prompt", views.conversation_mcp_prompt, name="mcp_prompt"),
    path("conversations/<str:thread_id>/export.md", views.conversation_export, {"fmt": "md"}, name="export_md"),
    path("conversations/<str:thread_id>/export.json", views.conversation_export, {"fmt": "json"}, name="export_json"),
]
