"""`create_run` while it waits, over every transport: progress for a client that asked, and a cancelled call
cancels its run through the service the API uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_servers.websocket import websocket_client
from tests.live import Server, Site
from tests.mcp.helpers import connected, data

Call = Callable[..., Awaitable[Any]]
# The demo server's `wait` tool keeps a run working this long unless it is cancelled.
SLOW = '/wait {"seconds": 30}'
SETTLE_SECONDS = 20


async def _thread(call: Call, content: str) -> str:
    assistant = data(
        await call(
            "create_assistant",
            {"model": "Offline", "name": "Waiter", "tools": [{"type": "mcp", "server_label": "demo"}]},
        )
    )
    thread = data(await call("create_thread", {"assistant_id": assistant["id"], "messages": [{"content": content}]}))
    return thread["id"]


async def _run_reaching(call: Call, thread_id: str, statuses: set[str]) -> dict[str, Any]:
    """The thread's latest run once its status is one of `statuses` (or as it is after a while), read as a client
    would, by polling."""
    run: dict[str, Any] = {}
    with anyio.move_on_after(SETTLE_SECONDS):
        while run.get("status") not in statuses:
            await anyio.sleep(0.1)
            runs = data(await call("list_runs", {"thread_id": thread_id}))["data"]
            run = runs[0] if runs else {}
    return run


async def _cancelled_mid_run(call: Call) -> dict[str, Any]:
    """Call create_run on a run that works for 30 s, cancel the call once the run works; the run as it ends."""
    thread_id = await _thread(call, SLOW)
    async with anyio.create_task_group() as group:
        group.start_soon(call, "create_run", {"thread_id": thread_id})
        assert (await _run_reaching(call, thread_id, {"in_progress"}))["status"] == "in_progress"
        group.cancel_scope.cancel()
    return await _run_reaching(call, thread_id, {"cancelled", "completed", "failed", "expired"})


async def _progress_of_a_run(call: Call) -> tuple[dict[str, Any], list[tuple[float, str | None]]]:
    thread_id = await _thread(call, '/wait {"seconds": 3}')
    reported: list[tuple[float, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        reported.append((value, message))

    run = data(await call("create_run", {"thread_id": thread_id}, progress_callback=progress))
    return run, reported


def _assert_progress(run: dict[str, Any], reported: list[tuple[float, str | None]]) -> None:
    assert run["status"] == "completed"
    assert len(reported) >= 2, reported
    values = [value for value, _ in reported]
    assert values == sorted(set(values)), "progress must grow with every notification"
    assert "in_progress" in (reported[-1][1] or "")


def _http(site: Site, user: str = "alice"):
    return create_mcp_http_client(headers={"Authorization": f"Bearer {site.tokens[user]}"})


@asynccontextmanager
async def _legacy_http(site: Site, server: Server) -> AsyncIterator[ClientSession]:
    """A 2025-11-25 session: the initialize handshake, then one stateless POST per message."""
    async with (
        _http(site) as http,
        streamable_http_client(f"{server.url}/mcp/", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def _modern_http(site: Site, server: Server) -> AsyncIterator[Client]:
    """A client of the 2026-07-28 revision: every request a POST of its own, cancelled by closing its stream."""
    async with _http(site) as http, Client(streamable_http_client(f"{server.url}/mcp/", http_client=http)) as client:
        assert client.protocol_version == "2026-07-28"
        yield client


@asynccontextmanager
async def _websocket(site: Site, server: Server) -> AsyncIterator[ClientSession]:
    url = server.url.replace("http://", "ws://") + "/mcp/ws"
    headers = {"Authorization": f"Bearer {site.tokens['alice']}"}
    async with websocket_client(url, headers=headers) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


# --- Cancelled with the call ----------------------------------------------------------------------------------------


async def test_it_cancels_the_run_when_a_legacy_http_client_cancels_create_run(site: Site, daphne_server: Server):
    async with _legacy_http(site, daphne_server) as session:
        run = await _cancelled_mid_run(session.call_tool)
    assert run["status"] == "cancelled", daphne_server.tail()


async def test_it_cancels_the_run_when_a_2026_http_client_cancels_create_run(site: Site, daphne_server: Server):
    async with _modern_http(site, daphne_server) as client:
        run = await _cancelled_mid_run(client.call_tool)
    assert run["status"] == "cancelled", daphne_server.tail()


async def test_it_cancels_the_run_when_a_websocket_client_cancels_create_run(site: Site, daphne_server: Server):
    async with _websocket(site, daphne_server) as session:
        run = await _cancelled_mid_run(session.call_tool)
    assert run["status"] == "cancelled", daphne_server.tail()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_it_cancels_the_run_when_an_in_process_client_cancels_create_run(alice, demo_assistant, close_pool, mode):
    async with connected(alice, mode=mode) as client:
        run = await _cancelled_mid_run(client.call_tool)
    assert run["status"] == "cancelled"


async def test_it_leaves_another_users_run_alone_when_a_cancel_names_its_request_id(site: Site, daphne_server: Server):
    async with _legacy_http(site, daphne_server) as alice:
        thread_id = await _thread(alice.call_tool, '/wait {"seconds": 3}')
        async with anyio.create_task_group() as group:

            async def run_it() -> None:
                finished.append(data(await alice.call_tool("create_run", {"thread_id": thread_id})))

            finished: list[dict[str, Any]] = []
            group.start_soon(run_it)
            await _run_reaching(alice.call_tool, thread_id, {"in_progress"})
            async with _http(site, "bob") as http:
                # bob names every request id alice's session may have used so far.
                for request_id in range(20):
                    response = await http.post(
                        f"{daphne_server.url}/mcp/",
                        json={
                            "jsonrpc": "2.0",
                            "method": "notifications/cancelled",
                            "params": {"requestId": request_id},
                        },
                        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"},
                    )
                    assert response.status_code == 202
    assert finished[0]["status"] == "completed"


# --- Progress while it waits ----------------------------------------------------------------------------------------


async def test_it_reports_progress_to_a_legacy_http_client_that_asked(site: Site, daphne_server: Server):
    async with _legacy_http(site, daphne_server) as session:
        run, reported = await _progress_of_a_run(session.call_tool)
    _assert_progress(run, reported)


async def test_it_reports_progress_to_a_2026_http_client_that_asked(site: Site, daphne_server: Server):
    async with _modern_http(site, daphne_server) as client:
        run, reported = await _progress_of_a_run(client.call_tool)
    _assert_progress(run, reported)


async def test_it_reports_progress_over_websocket(site: Site, daphne_server: Server):
    async with _websocket(site, daphne_server) as session:
        run, reported = await _progress_of_a_run(session.call_tool)
    _assert_progress(run, reported)
