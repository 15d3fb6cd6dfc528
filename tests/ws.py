"""Helpers to talk to the real ASGI application over WebSocketCommunicator."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def ws_open(thread_id: str, user=None, *, origin: str = "http://127.0.0.1") -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1")]
    if user is not None:
        cookie = await sync_to_async(_session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, f"/ws/conversations/{thread_id}/", headers=headers)


async def ws_connect(thread_id: str, user) -> WebsocketCommunicator:
    communicator = await ws_open(thread_id, user)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator: WebsocketCommunicator, timeout: float = 20) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def collect_until(communicator: WebsocketCommunicator, *events: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Receive frames until one of `events` arrives; return them all, in order."""
    frames = []
    while True:
        frame = await receive(communicator, timeout=timeout)
        frames.append(frame)
        if frame["event"] in events:
            return frames


def names(frames: list[dict[str, Any]]) -> list[str]:
    return [f["event"] for f in frames]
