from __future__ import annotations

from django.urls import path

from mcp_servers import views

app_name = "mcp_servers"

urlpatterns = [
    path("", views.server_list, name="server_list"),
    path("<int:pk>/check/", views.server_check, name="server_check"),
    path("mine/", views.own_server_list, name="own_server_list"),
    path("mine/<int:pk>/delete/", views.own_server_delete, name="own_server_delete"),
]
