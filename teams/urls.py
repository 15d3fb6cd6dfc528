from __future__ import annotations

from django.urls import path

from teams import views

app_name = "teams"

urlpatterns = [
    path("<str:asst_id>/team/new", views.link_create, name="link_create"),
    path("<str:asst_id>/team/<int:link_id>/delete", views.link_delete, name="link_delete"),
]
