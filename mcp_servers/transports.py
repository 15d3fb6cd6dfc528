"""One small class per MCP transport, each turning launch params into a connectable server."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

from agents.mcp import (
    MCPServer as AgentsMCPServer,
)
from agents.mcp import (
    MCPServerSse,
    MCPServerStdio,
    MCPServerStreamableHttp,
    MCPToolCustomDataContext,
    create_static_tool_filter,
)
from agents.mcp import server as sdk_server
from agents.mcp._compat import create_v2_client as _sdk_create_client

# The SDK's base for servers reached through a ClientSession; every SDK transport derives from it. Private, but
# the SDK offers no public one: its public MCPServer would mean redoing the session, retries, tool filter and cache.
# tests/contracts/test_sdk_seams.py fails if an upgrade moves or changes it.
from agents.mcp.server import _MCPServerWithClientSession

from core.tracing import current_span_error_mark
from mcp_servers.elicitation import CallsInFlight
from mcp_servers.errors import MCPConnectionLost
from mcp_servers.results import PARTS_META
from mcp_servers.sandbox import SandboxUnavailable, sandbox_launch
from mcp_servers.tasks import TasksExtension
from mcp_servers.ui import apps_advertised
from mcp_servers.websocket import websocket_client

LIST_CHANGED = "notifications/tools/list_changed"


def _tool_outcome(context: MCPToolCustomDataContext) -> Mapping[str, Any]:
    # Carried on the SDK's tool output item, so run steps know the server and the error flag.
    if context.is_error:
        # The SDK sees a normal return; the trace and the metrics must see a failed call.
        current_span_error_mark(message="MCP tool returned an error", data={"is_error": True})
    outcome: dict[str, Any] = {"server": context.server_name, "is_error": bool(context.is_error)}
    parts = (context.result_meta or {}).get(PARTS_META)
    if parts:
        outcome["parts"] = parts  # what a result held besides text (mcp_servers/results.py)
    return outcome


class ClientHooks:
    """What a server's client session hears besides answers: a changed tool list (the SDK's message handler), and
    a question for the user during a call (its elicitation callback, through `calls`)."""

    def __init__(self, server: AgentsMCPServer) -> None:
        self.server = server
        self.calls = CallsInFlight(server.name)

    async def __call__(self, message: Any) -> None:
        if getattr(message, "method", None) == LIST_CHANGED:
            self.server.invalidate_tools_cache()


def _client_with_hooks(transport: Any, *, read_timeout_seconds: float | None, message_handler: Any) -> Any:
    """The SDK's mcp Client, answering elicitation requests when the server was built with ClientHooks.

    The SDK builds its mcp Client in private (`agents.mcp.server.create_v2_client`) and passes it no elicitation
    callback, so the session would declare no elicitation capability. mcp's Client reads the callback only when
    it is entered, so it is set here, between the two; tests/contracts/test_sdk_seams.py fails if an upgrade
    moves the SDK's call.
    """
    client = _sdk_create_client(transport, read_timeout_seconds=read_timeout_seconds, message_handler=message_handler)
    # Servers learn that Switchboard shows their HTML views (MCP Apps) and waits on tasks (2026-07-28); the Client
    # folds its extensions when built.
    client = dataclasses.replace(client, extensions=[*(client.extensions or ()), apps_advertised(), TasksExtension()])
    if isinstance(message_handler, ClientHooks):
        client.elicitation_callback = message_handler.calls.elicit
    return client


sdk_server.create_v2_client = _client_with_hooks


def _tool_failure(context: Any, error: Exception) -> str:
    """Tell the model what went wrong with a call; a lost server ends the run instead."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, MCPConnectionLost):
            raise cause
        cause = cause.__cause__
    return f"The tool call failed: {error}"


class Transport:
    """Build an Agents SDK MCP server for one transport kind."""

    kind: ClassVar[str]
    registry: ClassVar[dict[str, type[Transport]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Transport.registry[cls.kind] = cls

    @classmethod
    def for_kind(cls, kind: str) -> type[Transport]:
        try:
            return cls.registry[kind]
        except KeyError:
            raise ValueError(f"Unknown MCP transport {kind!r}") from None

    @classmethod
    def common_options(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "cache_tools_list": True,
            # Calls are timed by the pool, which lets progress notifications extend the deadline.
            "client_session_timeout_seconds": None,
            "tool_filter": create_static_tool_filter(
                allowed_tool_names=options.get("allowed_tools") or None,
                blocked_tool_names=options.get("denied_tools") or None,
            ),
            "require_approval": options.get("require_approval"),
            "custom_data_extractor": _tool_outcome,
            "failure_error_function": _tool_failure,
        }

    @classmethod
    def build(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        server = cls.create(
            name=name, params=params, options=cls.common_options(name=name, params=params, options=options)
        )
        server.message_handler = ClientHooks(server)
        return server

    @classmethod
    def create(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        raise NotImplementedError


class StdioTransport(Transport):
    kind = "stdio"

    @classmethod
    def create(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        launch: dict[str, Any] = {"command": params["command"], "args": params["args"]}
        if params["env"]:
            launch["env"] = params["env"]
        if params["cwd"]:
            launch["cwd"] = params["cwd"]
        if params.get("sandbox"):
            try:
                launch = sandbox_launch(
                    command=params["command"], args=params["args"], cwd=params["cwd"], env=params["env"],
                    **params["sandbox"],
                )  # fmt: skip
            except (OSError, SandboxUnavailable) as exc:
                # Reported when the server is started, like any other failure to start it.
                return UnstartableStdio(error=exc, params=launch, **options)
            launch = {key: value for key, value in launch.items() if value is not None}
        return MCPServerStdio(params=launch, **options)


class UnstartableStdio(MCPServerStdio):
    """A stdio server that cannot be started (its program is missing, the sandbox cannot be set up)."""

    def __init__(self, *, error: BaseException, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    async def connect(self) -> None:
        raise self.error


class StreamableHttpTransport(Transport):
    kind = "streamable_http"

    @classmethod
    def create(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        return MCPServerStreamableHttp(
            params={"url": params["url"], "headers": params["headers"], "timeout": params["connect_timeout"]},
            **options,
        )


class SseTransport(Transport):
    kind = "sse"

    @classmethod
    def create(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        return MCPServerSse(
            params={"url": params["url"], "headers": params["headers"], "timeout": params["connect_timeout"]},
            **options,
        )


class MCPServerWebSocket(_MCPServerWithClientSession):
    """An Agents SDK MCP server reached over WebSocket (subprotocol `mcp`)."""

    def __init__(self, *, params: dict[str, Any], name: str, **options: Any) -> None:
        super().__init__(**options)
        self.params = params
        self._name = name

    def create_streams(self) -> AbstractAsyncContextManager[Any]:
        return websocket_client(
            self.params["url"], headers=self.params.get("headers"), open_timeout=self.params.get("timeout", 10)
        )

    @property
    def name(self) -> str:
        return self._name


class WebSocketTransport(Transport):
    kind = "websocket"

    @classmethod
    def create(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        options = {key: value for key, value in options.items() if key != "name"}
        return MCPServerWebSocket(
            params={"url": params["url"], "headers": params["headers"], "timeout": params["connect_timeout"]},
            name=name,
            **options,
        )
