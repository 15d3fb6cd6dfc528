"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from chat.mcp_http import MCPHttpRouter  # noqa: E402
from chat.routing import mcp_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402
from config.process import process_start  # noqa: E402
from core.origin import SameOriginValidator  # noqa: E402


class ExecutorStart:
    """Start the process's run executor with its first connection (the proxy's health check, say)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        process_start()
        return await self.app(scope, receive, send)


application = ExecutorStart(
    ProtocolTypeRouter(
        {
            # Static files are served by the app itself so one process is a complete server.
            # `/mcp/` is Switchboard's MCP server (Streamable HTTP), ahead of Django.
            "http": MCPHttpRouter(ASGIStaticFilesHandler(django_asgi_app)),
            # `/mcp/ws` authenticates by Bearer token; the Origin validator would refuse programs, which send none.
            # The chat socket takes a session cookie, so only a page of this very site may open it (scheme,
            # host and port: core.origin).
            "websocket": URLRouter(
                [
                    *mcp_websocket_urlpatterns,
                    re_path(r"", SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
                ]
            ),
        }
    )
)
