"""URLs of the pages' side of files, mounted by config.urls under `files/`."""

from __future__ import annotations

from django.urls import path

from files import views

app_name = "files"

urlpatterns = [
    path("", views.file_upload, name="upload"),
    path("<str:file_id>/", views.file_detail, name="detail"),
    path("<str:file_id>/content/", views.file_content, name="content"),
]
