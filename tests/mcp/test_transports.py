"""The official MCP client against a real Switchboard over stdio, Streamable HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from typing import Any

import pytest
import websockets
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from websockets.exceptions import ConnectionClosed

from core.api import BODY_MAX_BYTES
from mcp_servers.websocket import websocket_client
from tests.live import PYTHON, REPO_ROOT, Server, Site
from tests.mcp.helpers import data, error, text_of

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


async def full_turn(session: ClientSession) -> dict[str, Any]:
    """List tools, create an assistant, run a thread to completion and read the answer."""
    await session.initialize()
    tools = {tool.name for tool in (await session.list_tools()).tools}
    assistant = data(
        await session.call_tool(
            "create_assistant",
            {"model": "Offline", "name": "Adder", "tools": [{"type": "mcp", "server_label": "demo"}]},
        )
    )
    thread = data(await session.call_tool("create_thread", {"assistant_id": assistant["id"]}))
    data(await session.call_tool("create_message", {"thread_id": thread["id"], "content": '/add {"a": 20, "b": 22}'}))
    run = data(await session.call_tool("create_run", {"thread_id": thread["id"]}))
    messages = data(await session.call_tool("list_messages", {"thread_id": thread["id"], "run_id": run["id"]}))
    return {"tools": tools, "assistant": assistant, "run": run, "answer": text_of(messages["data"][0])}


def assert_full_turn(turn: dict[str, Any]) -> None:
    assert {"create_assistant", "create_thread", "create_message", "create_run", "list_messages"} <= turn["tools"]
    assert turn["assistant"]["tools"] == [{"type": "mcp", "server_label": "demo"}]
    assert turn["run"]["status"] == "completed"
    assert "42" in turn["answer"]


def _http_client(token: str | None):
    return create_mcp_http_client(headers={"Authorization": f"Bearer {token}"} if token else None)


def _post(url: str, headers: dict[str, str]) -> urllib.error.HTTPError | Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(INITIALIZE).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
    )
    try:
        return urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc


# --- stdio ------------------------------------------------------------------------------------------------------


async def test_it_serves_a_full_turn_over_stdio(site: Site):
    params = StdioServerParameters(
        command=PYTHON,
        args=["manage.py", "mcp_serve", "--user", "alice"],
        cwd=str(REPO_ROOT),
        env={"SWITCHBOARD_VAR_DIR": str(site.var_dir), "DEBUG": "1"},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        turn = await full_turn(session)
    assert_full_turn(turn)


def test_it_refuses_to_serve_stdio_for_an_unknown_user(site: Site):
    result = subprocess.run(
        [PYTHON, "manage.py", "mcp_serve", "--user", "nobody"],
        cwd=REPO_ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "No user named 'nobody'" in result.stderr
    assert result.stdout == ""


# --- Streamable HTTP --------------------------------------------------------------------------------------------


async def test_it_serves_a_full_turn_over_streamable_http(site: Site, daphne_server: Server):
    async with (
        _http_client(site.tokens["alice"]) as http,
        streamable_http_client(f"{daphne_server.url}/mcp/", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        turn = await full_turn(session)
    assert_full_turn(turn)


@pytest.mark.parametrize("authorization", [None, "Bearer sb_not-a-real-token", "Basic YWxpY2U6cGFzcw=="])
def test_it_refuses_http_without_a_valid_token(daphne_server: Server, authorization: str | None):
    response = _post(f"{daphne_server.url}/mcp/", {"Authorization": authorization} if authorization else {})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_http_from_a_foreign_browser_origin(site: Site, daphne_server: Server):
    headers = {"Authorization": f"Bearer {site.tokens['alice']}", "Origin": "http://evil.example"}
    assert _post(f"{daphne_server.url}/mcp/", headers).status == 403


def test_it_refuses_http_for_a_host_not_in_allowed_hosts(site: Site, daphne_server: Server):
    headers = {"Authorization": f"Bearer {site.tokens['alice']}", "Host": "evil.example"}
    assert _post(f"{daphne_server.url}/mcp/", headers).status == 400


def test_it_answers_on_the_path_without_a_trailing_slash(site: Site, daphne_server: Server):
    response = _post(f"{daphne_server.url}/mcp", {"Authorization": f"Bearer {site.tokens['alice']}"})
    assert response.status == 200
    assert json.loads(response.read())["result"]["serverInfo"]["name"] == "switchboard"


async def test_it_acts_as_the_tokens_user_over_http(site: Site, daphne_server: Server):
    url = f"{daphne_server.url}/mcp/"
    async with (
        _http_client(site.tokens["alice"]) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        thread = data(await session.call_tool("create_thread", {}))
    async with (
        _http_client(site.tokens["bob"]) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        refused = await session.call_tool("get_thread", {"thread_id": thread["id"]})
    assert f"No thread found with id '{thread['id']}'" in error(refused)


# --- WebSocket --------------------------------------------------------------------------------------------------


def _ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/mcp/ws"


async def test_it_serves_a_full_turn_over_websocket(site: Site, daphne_server: Server):
    headers = {"Authorization": f"Bearer {site.tokens['alice']}"}
    async with (
        websocket_client(_ws_url(daphne_server), headers=headers) as (read, write),
        ClientSession(read, write) as session,
    ):
        turn = await full_turn(session)
    assert_full_turn(turn)


@pytest.mark.parametrize("authorization", [None, "Bearer sb_not-a-real-token"])
async def test_it_closes_a_websocket_without_a_valid_token(daphne_server: Server, authorization: str | None):
    headers = {"Authorization": authorization} if authorization else None
    async with websockets.connect(_ws_url(daphne_server), subprotocols=["mcp"], additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4401


async def test_it_closes_a_websocket_from_a_foreign_browser_origin(site: Site, daphne_server: Server):
    headers = {"Authorization": f"Bearer {site.tokens['alice']}"}
    async with websockets.connect(
        _ws_url(daphne_server), subprotocols=["mcp"], additional_headers=headers, origin="http://evil.example"
    ) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4403


async def test_it_drops_a_websocket_that_sends_a_frame_over_the_limit(site: Site, daphne_server: Server):
    headers = {"Authorization": f"Bearer {site.tokens['alice']}"}
    async with websockets.connect(
        _ws_url(daphne_server), subprotocols=["mcp"], additional_headers=headers, max_size=None
    ) as ws:
        await ws.send("x" * (BODY_MAX_BYTES + 1))
        # Daphne's own 1 MiB limit usually ends it first, without a close frame; the consumer's closes with 1009.
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009


# --- Held to the spec, as third-party clients found it ------------------------------------------------------------


def test_it_answers_get_and_delete_with_405_at_once(site: Site, daphne_server: Server):
    for method in ("GET", "DELETE"):
        request = urllib.request.Request(
            f"{daphne_server.url}/mcp/",
            method=method,
            headers={"Authorization": f"Bearer {site.tokens['alice']}", "Accept": "text/event-stream"},
        )
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405 and refused.value.headers["Allow"] == "POST"
        assert time.monotonic() - started < 5


async def test_it_answers_a_frame_that_is_not_json_with_a_parse_error(site: Site, daphne_server: Server):
    headers = {"Authorization": f"Bearer {site.tokens['alice']}"}
    async with websockets.connect(_ws_url(daphne_server), subprotocols=["mcp"], additional_headers=headers) as ws:
        await ws.send("this is {not json")
        answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert answer == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}


async def test_it_names_its_version_and_refuses_an_unknown_prompt_with_invalid_params(
    site: Site, daphne_server: Server
):
    async with (
        _http_client(site.tokens["alice"]) as http,
        streamable_http_client(f"{daphne_server.url}/mcp/", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        initialized = await session.initialize()
        project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
        assert initialized.server_info.version == project["version"]
        with pytest.raises(MCPError) as refused:
            await session.get_prompt("no_such_prompt")
    assert refused.value.code == -32602
