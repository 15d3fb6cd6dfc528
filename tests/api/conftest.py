from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import AsyncClient, Client

from core.tokens import token_create
from tests.live import Server, Site, daphne, openai_client


@dataclass
class Api:
    """A test client that speaks to /v1/ with one user's Bearer token."""

    client: Client
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "OpenAI-Beta": "assistants=v2"}

    def get(self, path: str, **query: Any):
        return self.client.get(f"/v1/{path}", query, headers=self._headers())

    def post(self, path: str, body: Any = None):
        data = "" if body is None else json.dumps(body)
        return self.client.post(f"/v1/{path}", data, content_type="application/json", headers=self._headers())

    def delete(self, path: str):
        return self.client.delete(f"/v1/{path}", headers=self._headers())


@dataclass
class AsyncApi:
    client: AsyncClient
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **query: Any):
        return await self.client.get(f"/v1/{path}", query, headers=self._headers())

    async def post(self, path: str, body: Any = None):
        data = "" if body is None else json.dumps(body)
        return await self.client.post(f"/v1/{path}", data, content_type="application/json", headers=self._headers())


@pytest.fixture
def alice_api(alice) -> Api:
    return Api(Client(), token_create(user=alice, name="test")[1])


@pytest.fixture
def bob_api(bob) -> Api:
    return Api(Client(), token_create(user=bob, name="test")[1])


@pytest.fixture
def alice_async(alice) -> AsyncApi:
    return AsyncApi(AsyncClient(), token_create(user=alice, name="test")[1])


def error_of(response) -> dict[str, Any]:
    """The error object of an error response, checking the envelope's shape."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


async def sse_events(response) -> list[tuple[str, Any]]:
    """Parse a Server-Sent Events body into (event, data) pairs."""
    text = "".join([chunk.decode() async for chunk in response.streaming_content])
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], lines["data"] if lines["data"] == "[DONE]" else json.loads(lines["data"])))
    return events


# A live server for the modules that drive one with the official `openai` client: each defines its own `site`.


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    with daphne(site) as server:
        yield server


@pytest.fixture(scope="module")
def client(site: Site, server: Server) -> Any:
    """The official `openai` client on the live server, as alice (in place of Django's test client here)."""
    return openai_client(site, server)
