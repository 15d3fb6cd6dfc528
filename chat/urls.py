from __future__ import annotations

from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("conversations/", views.conversation_create, name="conversation_create"),
    path("conversations/<str:thread_id>/", views.conversation_detail, name="conversation_detail"),
]
