from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from assistants.services import mcp_server_usable
from core import oauth_views as oauth_server_views
from core.twofactor import LoginForm
from mcp_servers import oauth_views


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm,
            extra_context={"sso_name": settings.OIDC_PROVIDER_NAME if settings.OIDC_ISSUER else ""},
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's, a JSON response).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("v1/", include("files.urls")),
    path("files/", include("files.page_urls")),
    path("v1/", include("chat.api.urls")),
    path("assistants/", include("guardrails.urls")),
    path("assistants/", include("teams.urls")),
    path("assistants/", include("assistants.urls")),
    path("settings/", include("core.urls")),
    # Switchboard as the OAuth authorization server of its own MCP endpoint (/.well-known/…, /oauth/…).
    path("", include(oauth_server_views.urls())),
    path("mcp-servers/", include("mcp_servers.urls")),
    # Connecting a user's own account to the servers that ask for sign-in, for the servers they may use.
    path("mcp-servers/oauth/", include(oauth_views.urls(usable=mcp_server_usable))),
    # The trace page lives under a conversation's URL, so it is matched before chat's own pages.
    path("", include("observability.urls")),
    path("", include("chat.urls")),
]

# Error pages in the site's layout, with the server's message (Django's own are bare).
handler400 = "core.error_pages.bad_request"
handler403 = "core.error_pages.permission_denied"
handler404 = "core.error_pages.page_not_found"
handler500 = "core.error_pages.server_error"

if settings.OIDC_ISSUER:
    # Single sign-on: /oidc/authenticate/ sends the browser to the provider, /oidc/callback/ signs it in.
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))
