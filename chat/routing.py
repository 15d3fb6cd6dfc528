from __future__ import annotations

from django.urls import path

from chat.consumers import ConversationConsumer
from chat.mcp_consumer import MCPConsumer

websocket_urlpatterns = [
    path("ws/conversations/<str:thread_id>/", ConversationConsumer.as_asgi()),
]

# Switchboard's MCP server for programs: Bearer token in the handshake, no session cookie, no Origin needed.
mcp_websocket_urlpatterns = [
    path("mcp/ws", MCPConsumer.as_asgi()),
]
