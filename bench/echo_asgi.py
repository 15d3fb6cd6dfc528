"""The floor for a WebSocket round trip: a bare Channels echo consumer under Daphne, nothing else.

`python -m bench.serve -b 127.0.0.1 -p PORT bench.echo_asgi:application`
"""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.urls import path

if not settings.configured:
    # No channel layer, no database, no middleware: only Channels' consumer machinery.
    settings.configure(CHANNEL_LAYERS={}, ALLOWED_HOSTS=["*"])


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


application = ProtocolTypeRouter({"websocket": URLRouter([path("echo/", EchoConsumer.as_asgi())])})
