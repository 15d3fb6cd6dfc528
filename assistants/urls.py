from __future__ import annotations

from django.urls import path

from assistants import views

app_name = "assistants"

urlpatterns = [
    path("", views.assistant_list, name="assistant_list"),
    path("new", views.assistant_create, name="assistant_create"),
    path("<str:asst_id>/", views.assistant_detail, name="assistant_detail"),
    path("<str:asst_id>/edit", views.assistant_edit, name="assistant_edit"),
    path("<str:asst_id>/delete", views.assistant_delete, name="assistant_delete"),
    path("<str:asst_id>/duplicate", views.assistant_duplicate, name="assistant_duplicate"),
    path("<str:asst_id>/knowledge", views.assistant_knowledge_add, name="assistant_knowledge_add"),
    path(
        "<str:asst_id>/knowledge/<str:file_id>/remove",
        views.assistant_knowledge_remove,
        name="assistant_knowledge_remove",
    ),
]
