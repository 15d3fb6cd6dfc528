from __future__ import annotations

from django.urls import path

from core import preference_views, views

app_name = "core"

urlpatterns = [
    path("", views.account, name="account"),
    path("sessions/<int:session_id>/end", views.session_end_view, name="session_end"),
    path("sessions/end-all", views.sign_out_everywhere, name="sign_out_everywhere"),
    path("two-factor", views.two_factor, name="two_factor"),
    path("preferences", preference_views.preferences_save, name="preferences"),
    path("theme", preference_views.theme_set, name="theme_set"),
    path("sidebar", preference_views.sidebar_set, name="sidebar_set"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<int:token_id>/revoke", views.token_revoke_view, name="token_revoke"),
]
