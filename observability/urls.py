from __future__ import annotations

from django.urls import path

from observability import views

app_name = "observability"

urlpatterns = [
    path("conversations/<str:thread_id>/runs/<str:run_id>/trace/", views.run_trace, name="run_trace"),
    path("metrics", views.metrics, name="metrics"),
    path("settings/usage/", views.my_usage, name="my_usage"),
    path("usage/", views.site_usage_page, name="site_usage"),
]
