"""One small class per MCP transport, each turning launch params into a connectable server."""

from __future__ import annotations

from collections.abc import Mapping
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


def _tool_outcome(context: MCPToolCustomDataContext) -> Mapping[str, Any]:
    # Carried on the SDK's tool output item, so run steps know the server and the error flag.
    return {"server": context.server_name, "is_error": bool(context.is_error)}


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
            "client_session_timeout_seconds": params["call_timeout"],
            "tool_filter": create_static_tool_filter(
                allowed_tool_names=options.get("allowed_tools") or None,
                blocked_tool_names=options.get("denied_tools") or None,
            ),
            "require_approval": options.get("require_approval"),
            "custom_data_extractor": _tool_outcome,
        }

    @classmethod
    def build(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        raise NotImplementedError


class StdioTransport(Transport):
    kind = "stdio"

    @classmethod
    def build(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        launch: dict[str, Any] = {"command": params["command"], "args": params["args"]}
        if params["env"]:
            launch["env"] = params["env"]
        if params["cwd"]:
            launch["cwd"] = params["cwd"]
        return MCPServerStdio(params=launch, **cls.common_options(name=name, params=params, options=options))


class StreamableHttpTransport(Transport):
    kind = "streamable_http"

    @classmethod
    def build(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        return MCPServerStreamableHttp(
            params={"url": params["url"], "headers": params["headers"], "timeout": params["connect_timeout"]},
            **cls.common_options(name=name, params=params, options=options),
        )


class SseTransport(Transport):
    kind = "sse"

    @classmethod
    def build(cls, *, name: str, params: dict[str, Any], options: dict[str, Any]) -> AgentsMCPServer:
        return MCPServerSse(
            params={"url": params["url"], "headers": params["headers"], "timeout": params["connect_timeout"]},
            **cls.common_options(name=name, params=params, options=options),
        )
