"""URLs of files and vector stores, mounted by config.urls under `v1/` before the rest of the API."""

from __future__ import annotations

from django.urls import path

from files import api

urlpatterns = [
    path("files", api.files, name="api_files"),
    path("files/<str:file_id>", api.file_detail, name="api_file_detail"),
    path("files/<str:file_id>/content", api.file_content, name="api_file_content"),
    path("vector_stores", api.vector_stores, name="api_vector_stores"),
    path("vector_stores/<str:vector_store_id>", api.vector_store_detail, name="api_vector_store_detail"),
    path("vector_stores/<str:vector_store_id>/files", api.vector_store_files, name="api_vector_store_files"),
    path(
        "vector_stores/<str:vector_store_id>/files/<str:file_id>",
        api.vector_store_file_detail,
        name="api_vector_store_file_detail",
    ),
    path("vector_stores/<str:vector_store_id>/file_batches", api.file_batches, name="api_file_batches"),
    path(
        "vector_stores/<str:vector_store_id>/file_batches/<str:batch_id>",
        api.file_batch_detail,
        name="api_file_batch_detail",
    ),
    path(
        "vector_stores/<str:vector_store_id>/file_batches/<str:batch_id>/cancel",
        api.file_batch_cancel,
        name="api_file_batch_cancel",
    ),
    path(
        "vector_stores/<str:vector_store_id>/file_batches/<str:batch_id>/files",
        api.file_batch_files,
        name="api_file_batch_files",
    ),
]
