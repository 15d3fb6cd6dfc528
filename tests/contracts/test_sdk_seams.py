"""Contract tests for the parts of the MCP, Agents and openai SDKs that Switchboard uses beyond their public API.

Each test names the seam it guards and where Switchboard relies on it, so an SDK upgrade that moves, renames
or changes one fails here with a message saying what to fix, rather than quietly changing how the pool notices
a dead server, times a tool call, or records which server a tool came from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from agents import (
    Agent,
    FunctionTool,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    RunContextWrapper,
    Runner,
    ToolOrigin,
    ToolOriginType,
    function_tool,
)
from agents.mcp import MCPServer as AgentsMCPServer
from agents.mcp import server as sdk_server
from agents.tool import get_function_tool_origin
from django.conf import settings
from mcp import Client
from mcp.client._input_required import run_input_required_driver
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED
from openai import AsyncOpenAI

from assistants.factory import ProviderClient, ResponseFormat
from mcp_servers.elicitation import tool_elicitation
from mcp_servers.errors import MCPCallTimeout
from mcp_servers.session import TimedSession, session_closed
from mcp_servers.transports import MCPServerWebSocket, Transport, _client_with_hooks
from tests.fakes.openai_server import FakeOpenAIServer, text
from tests.mcp_servers.conftest import children, demo_serve


def params(**fields: Any) -> dict[str, Any]:
    """Launch params as `MCPServer.launch_params()` returns them."""
    defaults = {
        "transport": "stdio",
        "command": sys.executable,
        "args": [],
        "cwd": str(settings.BASE_DIR),
        "url": "",
        "env": {},
        "headers": {},
        "connect_timeout": 15,
        "call_timeout": 10,
    }
    return {**defaults, **fields}


@asynccontextmanager
async def connected(server: AgentsMCPServer) -> AsyncIterator[AgentsMCPServer]:
    """Open and close the server in the caller's task, as the pool's owner task does."""
    await server.connect()
    try:
        yield server
    finally:
        await server.cleanup()


def demo_stdio(label: str) -> AgentsMCPServer:
    """The demo server over stdio, built as the pool builds it; `label` finds its process."""
    return Transport.for_kind("stdio").build(
        name="demo", params=params(args=["-m", "mcp_servers.demo", f"--label={label}"]), options={}
    )


@pytest.fixture(scope="module")
def demo_ws_url() -> Iterator[str]:
    yield from demo_serve("websocket")


class RecordingSession:
    """Stands in for the SDK's session and notes which of its methods the SDK reached through `server.session`."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        return getattr(self._session, name)


# --- mcp_servers.session.session_closed(): `session._dispatcher._closed` -------------------------------------


async def test_it_sees_a_session_close_in_the_dispatcher_flag_once_the_server_process_dies():
    async with connected(demo_stdio("seam-closed")) as server:
        session = server.session
        dispatcher = getattr(session, "_dispatcher", None)
        assert dispatcher is not None, (
            "mcp's ClientSession has no `_dispatcher` any more. mcp_servers.session.session_closed() reads "
            "`session._dispatcher._closed` to notice a crashed server or a dropped socket; without it every dead "
            "connection looks alive until a call fails. Find the SDK's new closed flag and use it there."
        )
        assert isinstance(getattr(dispatcher, "_closed", None), bool), (
            f"mcp's {type(dispatcher).__name__} has no boolean `_closed` any more. "
            "mcp_servers.session.session_closed() reads it to notice a dead connection; find the SDK's new closed "
            "flag and use it there."
        )
        assert session_closed(session) is False, (
            "`session._dispatcher._closed` is true on a session that is open: its meaning changed, and "
            "mcp_servers.session.session_closed() would drop every connection as dead."
        )
        assert session_closed(TimedSession(session, server_name="demo", call_timeout=10)) is False

        (pid,) = [pid for pid, cmdline in children() if "--label=seam-closed" in cmdline]
        os.kill(pid, signal.SIGKILL)
        # The public way to learn of it: the next request fails as `CONNECTION_CLOSED`, which TimedSession reads too.
        with pytest.raises(MCPError) as lost:
            await asyncio.wait_for(session.send_ping(), timeout=10)
        assert lost.value.code == CONNECTION_CLOSED, (
            f"A request to a dead stdio server failed with code {lost.value.code}, not CONNECTION_CLOSED: "
            "mcp_servers.session.TimedSession.call_tool() no longer tells a lost server from a tool error."
        )
        assert session_closed(session) is True, (
            "`session._dispatcher._closed` stays false after the server process died: its meaning changed, and "
            "the pool would keep lending a dead connection. Fix mcp_servers.session.session_closed()."
        )
        assert session_closed(TimedSession(session, server_name="demo", call_timeout=10)) is True


# --- mcp_servers.connection.Connection.own(): `server.session = TimedSession(...)` ---------------------------


async def test_it_lists_and_calls_tools_through_the_session_attribute_the_pool_replaces():
    async with connected(demo_stdio("seam-session")) as server:
        real = server.session
        assert isinstance(real, ClientSession), (
            f"The Agents SDK's `server.session` is a {type(real).__name__}, not mcp's ClientSession: "
            "mcp_servers.session.TimedSession wraps it and calls `call_tool(..., progress_callback=...)` on it."
        )
        recording = RecordingSession(real)
        server.session = recording
        try:
            server.invalidate_tools_cache()
            names = {tool.name for tool in await server.list_tools()}
            result = await server.call_tool("add", {"a": 1, "b": 2})
        finally:
            server.session = real
    assert "add" in names
    assert result.content[0].text == "3"
    for method in ("list_tools", "call_tool"):
        assert method in recording.used, (
            f"The Agents SDK's {type(server).__name__}.{method}() no longer goes through `self.session`, so the "
            "TimedSession that mcp_servers.connection.Connection.own() puts there is bypassed: tool calls would have "
            "no timeout and no progress extension. Find the SDK's new hook for them."
        )


async def test_it_times_out_a_tool_call_through_the_swapped_in_timed_session():
    async with connected(demo_stdio("seam-timeout")) as server:
        real = server.session
        server.session = TimedSession(real, server_name="demo", call_timeout=0.5)
        try:
            with pytest.raises(MCPCallTimeout, match=r"did not answer within 0\.5 s"):
                await server.call_tool("wait", {"seconds": 30})
        finally:
            server.session = real


def test_it_offers_the_progress_callback_the_timed_session_passes():
    parameters = inspect.signature(ClientSession.call_tool).parameters
    assert "progress_callback" in parameters, (
        "mcp's ClientSession.call_tool() takes no `progress_callback` any more: mcp_servers.session.TimedSession "
        "passes one so a tool that reports progress keeps its call alive past the timeout."
    )


# --- mcp_servers.transports.MCPServerWebSocket: `agents.mcp.server._MCPServerWithClientSession` ----------------


def test_it_still_offers_the_client_session_base_the_websocket_server_extends():
    base = getattr(sdk_server, "_MCPServerWithClientSession", None)
    assert base is not None, (
        "agents.mcp.server._MCPServerWithClientSession is gone. mcp_servers.transports.MCPServerWebSocket extends "
        "it to reach MCP servers over WebSocket; base it on whatever the SDK's stdio/SSE/HTTP servers now share."
    )
    assert issubclass(MCPServerWebSocket, base)
    assert base.__abstractmethods__ <= {"create_streams", "name"}, (
        f"The SDK's client session base now leaves {sorted(base.__abstractmethods__)} abstract: "
        "mcp_servers.transports.MCPServerWebSocket implements only `create_streams` and `name`."
    )
    assert not inspect.isabstract(MCPServerWebSocket)
    for method in ("connect", "cleanup", "list_tools", "call_tool", "invalidate_tools_cache"):
        assert callable(getattr(base, method, None)), f"The SDK's client session base has no `{method}()` any more."
    options = Transport.common_options(name="demo", params=params(), options={})
    accepted = inspect.signature(base.__init__).parameters
    missing = sorted(set(options) - {"name"} - set(accepted))
    assert not missing, (
        f"The SDK's client session base no longer takes {missing}: mcp_servers.transports.MCPServerWebSocket "
        "passes the pool's common options to it."
    )


async def test_it_connects_lists_and_calls_a_tool_over_the_websocket_server(demo_ws_url):
    server = Transport.for_kind("websocket").build(name="demo", params=params(url=demo_ws_url), options={})
    assert isinstance(server, MCPServerWebSocket)
    async with connected(server):
        assert isinstance(server.session, ClientSession)
        names = {tool.name for tool in await server.list_tools()}
        result = await server.call_tool("echo", {"message": "hi"})
    assert "echo" in names
    assert result.content[0].text == "Echo: hi"
    assert server.session is None


# --- assistants.services.assistant_agent_build(): which server each tool came from ---------------------------


@pytest.mark.parametrize("prefixed", [False, True])
async def test_it_names_each_mcp_tools_server_in_the_public_tool_origin(prefixed):
    async with connected(demo_stdio("seam-origin")) as server:
        agent = Agent(name="probe", mcp_servers=[server], mcp_config={"include_server_in_tool_names": prefixed})
        tools = await agent.get_mcp_tools(RunContextWrapper(context=None))
        raw_names = {tool.name for tool in await server.list_tools()}
    assert tools
    for tool in tools:
        assert isinstance(tool, FunctionTool), f"The SDK built MCP tool {tool.name!r} as a {type(tool).__name__}."
        assert (tool.name not in raw_names) == prefixed
        assert get_function_tool_origin(tool) == ToolOrigin(type=ToolOriginType.MCP, mcp_server_name="demo"), (
            "agents.tool.get_function_tool_origin() no longer names an MCP tool's server: "
            "assistants.services.assistant_agent_build() reads it to record each tool call's server on its run step."
        )


# --- mcp_servers.transports._client_with_hooks(): `agents.mcp.server.create_v2_client` --------------------------


def test_it_builds_the_sdks_mcp_client_through_the_function_the_transports_wrap():
    source = inspect.getsource(sdk_server._MCPServerWithClientSession._client_session_context)
    assert "create_v2_client(" in source and vars(sdk_server).get("create_v2_client") is _client_with_hooks, (
        "The Agents SDK no longer builds its mcp Client through `agents.mcp.server.create_v2_client`, which "
        "mcp_servers.transports wraps to give the client session an elicitation callback: servers would no longer "
        "be able to ask the user anything. Find where the SDK builds its Client now."
    )
    assert "elicitation_callback" in {f.name for f in dataclasses.fields(Client)}, (
        "mcp's Client takes no `elicitation_callback` any more: mcp_servers.transports._client_with_hooks sets it."
    )


async def test_it_asks_the_caller_when_a_server_elicits_through_a_pooled_connection():
    server = Transport.for_kind("stdio").build(
        name="asking", params=params(args=[str(settings.BASE_DIR / "tests" / "fakes" / "asking_mcp_server.py")]),
        options={},
    )  # fmt: skip
    asked: list[dict[str, Any]] = []

    async def answer(name: str, request: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        asked.append(request)
        return "accept", {"guests": 2, "email": "ada@example.com"}

    async with connected(server):
        server.session = TimedSession(
            server.session, server_name="asking", call_timeout=10, calls=server.message_handler.calls
        )
        token = tool_elicitation.set(answer)
        try:
            result = await server.call_tool("book_table", {"restaurant": "Chez Nous"})
        finally:
            tool_elicitation.reset(token)
    assert [request["mode"] for request in asked] == ["form"], (
        "The server's question never reached the caller: the client session declares no elicitation capability, "
        "or no longer routes a server's question to its elicitation callback."
    )
    assert result.content[0].text == "Booked Chez Nous for 2; confirmation to ada@example.com."


# --- mcp_servers.session.TimedSession: the 2026-07-28 `input_required` round trips ---------------------------------


def test_it_offers_the_input_required_round_trip_the_timed_session_drives():
    parameters = inspect.signature(ClientSession.call_tool).parameters
    missing = {"allow_input_required", "input_responses", "request_state"} - set(parameters)
    assert not missing, (
        f"mcp's ClientSession.call_tool() takes no {sorted(missing)} any more: mcp_servers.session.TimedSession calls "
        "a tool again with the user's answers when it returns `input_required` (2026-07-28)."
    )
    assert callable(getattr(ClientSession, "dispatch_input_request", None))
    driver = inspect.signature(run_input_required_driver).parameters
    assert {"first", "dispatch", "retry"} <= set(driver), (
        "mcp.client._input_required.run_input_required_driver() changed: mcp_servers.session.TimedSession drives "
        "the `input_required` round trips with it."
    )


# --- mcp_servers.tasks.task_call: `session._dispatcher.send_raw_request` --------------------------------------------


def test_it_offers_the_raw_request_the_task_calls_send():
    from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

    parameters = list(inspect.signature(JSONRPCDispatcher.send_raw_request).parameters)
    assert parameters[1:4] == ["method", "params", "opts"], (
        "mcp's dispatcher has no `send_raw_request(method, params, opts)` any more: mcp_servers.tasks.task_call "
        "sends a task-augmented `tools/call` and `tasks/result` through it, since ClientSession.send_request checks "
        "a `tools/call` answer against the plain result and refuses the task it gets instead."
    )


# --- mcp_servers.transports._client_with_hooks: `Client.extensions`, folded when the Client is built --------------


def test_it_folds_the_extensions_a_rebuilt_client_is_given():
    from mcp_servers.ui import EXTENSION_ID

    client = _client_with_hooks("http://127.0.0.1:9/mcp", read_timeout_seconds=None, message_handler=None)
    assert EXTENSION_ID in (client._folded_extensions.ad or {}), (
        "mcp's Client no longer folds `extensions` when built: mcp_servers.transports._client_with_hooks rebuilds "
        "the SDK's Client with dataclasses.replace() to declare MCP Apps, and servers would not know Switchboard "
        "shows their views."
    )


# --- openai: the request walk a provider client skips (assistants.factory.ProviderClient) -------------------------

CONVERSATION = [
    {"role": "user", "content": "What is 2 + 3? Here is a picture of it."},
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "And this one."},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
        ],
    },
    {"type": "function_call", "call_id": "call_1", "name": "add", "arguments": '{"a": 2, "b": 3}'},
    {"type": "function_call_output", "call_id": "call_1", "output": "5"},
    {"role": "assistant", "content": "It is 5."},
    {"role": "user", "content": "Thanks, and in JSON?"},
]


def _add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@pytest.mark.parametrize("model_class", [OpenAIChatCompletionsModel, OpenAIResponsesModel], ids=["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_a_provider_client_sends_what_the_openai_client_sends_without_walking_the_messages(model_class, stream):
    """The client skips openai's request walk for the messages, input and tools (it changes nothing for these
    types): the request body is the same, field for field, as the stock client's. An openai release that starts
    renaming or reformatting any of these fails here."""
    schema = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}
    model_settings = ModelSettings(temperature=0.2, include_usage=True, extra_body={"seed": 7})
    bodies = []
    with FakeOpenAIServer() as fake:
        for client_class in (AsyncOpenAI, ProviderClient):
            fake.script(text('{"sum": 5}'))
            client = client_class(api_key="sk-test", base_url=fake.base_url, max_retries=0)
            agent = Agent(
                name="Adder",
                instructions="Be brief.",
                model=model_class(model="fake-model", openai_client=client),
                model_settings=model_settings,
                tools=[function_tool(_add)],
                output_type=ResponseFormat({"type": "json_schema", "json_schema": {"name": "sum", "schema": schema}}),
            )
            config = RunConfig(tracing_disabled=True)
            if stream:
                result = Runner.run_streamed(agent, input=CONVERSATION, run_config=config)
                async for _ in result.stream_events():
                    pass
            else:
                result = await Runner.run(agent, input=CONVERSATION, run_config=config)
            assert result.final_output == {"sum": 5}
            bodies.append(fake.model_requests()[-1].body)
    stock, ours = bodies
    assert ours == stock
    assert ours["seed"] == 7  # the caller's own extra body still goes out
    assert len(ours["messages" if model_class is OpenAIChatCompletionsModel else "input"]) >= len(CONVERSATION)


async def test_the_values_a_provider_client_sends_are_what_openais_walk_makes_of_them():
    """`_as_sent` against openai's own walk, on what a caller may hand the client: omitted fields, tuples,
    iterators, models."""
    from openai import omit
    from openai._utils._transform import async_maybe_transform
    from openai.types.chat import ChatCompletionMessageFunctionToolCall, completion_create_params
    from openai.types.responses import response_create_params

    from assistants.factory import _as_sent

    call = ChatCompletionMessageFunctionToolCall(
        id="call_1", type="function", function={"name": "add", "arguments": '{"a": 1}'}
    )
    image = {"url": "data:image/png;base64,iVBORw0KGgo="}

    def chat() -> dict:  # made twice: an iterator goes through once
        messages = [
            {"role": "system", "content": "Be brief.", "name": omit},
            {"role": "user", "content": ({"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": image})},
            {"role": "user", "content": iter([{"type": "text", "text": "Once through"}])},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "2"},
        ]
        return {"model": "m", "messages": messages, "tools": tools, "stream": True}

    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}]
    walked = await async_maybe_transform(chat(), completion_create_params.CompletionCreateParamsStreaming)
    sent = chat()
    assert {name: _as_sent(sent[name]) for name in ("messages", "tools")} == {
        name: walked[name] for name in ("messages", "tools")
    }
    assert walked["messages"][2]["content"] == [{"type": "text", "text": "Once through"}]
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}, {"type": "function_call_output",
             "call_id": "call_1", "output": "2"}]  # fmt: skip
    responses = {"model": "m", "input": items, "tools": [{**tools[0]["function"], "type": "function"}]}
    walked = await async_maybe_transform(responses, response_create_params.ResponseCreateParamsStreaming)
    assert {name: _as_sent(responses[name]) for name in ("input", "tools")} == {
        name: walked[name] for name in ("input", "tools")
    }
