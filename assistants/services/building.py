"""Building a run's agent: the assistant's model, its MCP servers, function and file_search tools, and its team."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from agents import (
    Agent,
    Handoff,
    InputGuardrail,
    OutputGuardrail,
    RunContextWrapper,
    Tool,
)
from agents.mcp import MCPServer as AgentsMCPServer
from agents.tool import FunctionTool, get_function_tool_origin
from agents.tool_context import ToolContext
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from assistants.factory import model_build, model_settings_build, output_schema_build
from assistants.models import Assistant
from assistants.services.management import assistant_run_refusal
from core.network import url_refusal_async
from files.results import results_output
from files.services import (
    SEARCH_RESULTS_DEFAULT,
    vector_store_search,
    vector_stores_ready,
)
from mcp_servers.connection import error_text
from mcp_servers.errors import MCPConnectError
from mcp_servers.models import MCPServer
from mcp_servers.services import mcp_server_connect

logger = logging.getLogger(__name__)


class AssistantUnavailable(Exception):
    """The assistant cannot run; the message is safe to show to users."""


# Assistants v2 metadata values are strings of at most 512 characters.
METADATA_VALUE_MAX = 512


@dataclass(frozen=True)
class ServerSkipped:
    """An MCP server left out of one run because it could not be reached, and the tools it would have offered."""

    name: str
    reason: str
    tools: tuple[str, ...] = ()


@dataclass
class AgentBuild:
    agent: Agent
    servers: list[AgentsMCPServer]
    # The name the model sees for each MCP tool, and the server it lives on.
    tool_servers: dict[str, str]
    skipped: list[ServerSkipped] = dataclasses.field(default_factory=list)
    # The caller's function tools, by name: their calls wait for the caller's output.
    functions: frozenset[str] = frozenset()

    @property
    def skipped_summary(self) -> str:
        """Which servers were left out and why, for the run's metadata ("" if none was)."""
        text = "; ".join(f"{skip.name} ({skip.reason})" for skip in self.skipped)
        return _bounded(text)

    @property
    def skipped_warning(self) -> str:
        """The warning shown on the run's answer ("" if every server was reached)."""
        if not self.skipped:
            return ""
        return _bounded(f"Answered without the tools of these MCP servers: {self.skipped_summary}.")


def _bounded(text: str) -> str:
    return text if len(text) <= METADATA_VALUE_MAX else text[: METADATA_VALUE_MAX - 1] + "…"


def _skipped_note(skipped: list[ServerSkipped]) -> str:
    """What the model is told about the servers left out, so it neither calls their tools nor pretends to."""
    lines = [
        "These MCP servers could not be reached for this reply, so their tools are unavailable. Do not try to "
        "call them; if the request needs one, say that it is unavailable right now."
    ]
    for skip in skipped:
        tools = ", ".join(skip.tools) if skip.tools else "its tools are not known"
        lines.append(f"- {skip.name} ({skip.reason}): {tools}")
    return "\n".join(lines)


async def _servers_connect(
    *, configs: list[MCPServer], user_id: int, username: str
) -> tuple[list[AgentsMCPServer], list[list[Any]], list[ServerSkipped]]:
    """Borrow every server side by side; one that does not connect or list its tools is skipped, not fatal."""

    async def one(config: MCPServer) -> tuple[AgentsMCPServer, list[Any]]:
        server = await mcp_server_connect(server=config, user_id=user_id, username=username)
        return server, await server.list_tools()

    results = await asyncio.gather(*(one(config) for config in configs), return_exceptions=True)
    connected, tools, skipped = [], [], []
    for config, result in zip(configs, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # a cancellation: the run itself is stopping
            reason = result.reason if isinstance(result, MCPConnectError) else error_text(result, server=config.name)
            known = tuple(tool["name"] for tool in config.last_tools or [] if config.allows_tool(tool.get("name", "")))
            skipped.append(ServerSkipped(name=config.name, reason=reason.rstrip("."), tools=known))
            logger.warning("MCP server %s left out of a run: %s", config.name, reason)
            continue
        connected.append(result[0])
        tools.append(result[1])
    return connected, tools, skipped


def function_tools_build(functions: list[dict[str, Any]], outputs: dict[str, str]) -> list[FunctionTool]:
    """The caller's function tools as SDK tools. Each always stops the run for its output (the run waits as
    `requires_action`); once the caller has submitted it into `outputs`, the call returns it."""

    async def invoke(context: ToolContext[Any], _arguments: str) -> str:
        return outputs.get(context.tool_call_id, "")

    return [
        FunctionTool(
            name=function["name"],
            description=function.get("description", ""),
            params_json_schema=function.get("parameters") or {"type": "object", "properties": {}},
            on_invoke_tool=invoke,
            strict_json_schema=bool(function.get("strict", False)),
            needs_approval=True,
        )
        for function in functions
    ]


FILE_SEARCH_TOOL = "file_search"


def file_search_tool_build(*, user_id: int, vector_store_ids: list[str], settings: dict[str, Any]) -> FunctionTool:
    """OpenAI's file_search as an SDK tool: it searches the run's vector stores (the user's own, unexpired) and
    returns the best chunks as JSON (files.results), each with the marker that cites it and its file's id."""
    limit = settings.get("max_num_results", SEARCH_RESULTS_DEFAULT)
    ranking = settings.get("ranking_options") or {}
    threshold = ranking.get("score_threshold", 0)
    searches = 0

    async def invoke(_context: ToolContext[Any], arguments: str) -> str:
        nonlocal searches
        try:
            query = json.loads(arguments or "{}").get("query")
        except (ValueError, AttributeError):
            query = None
        if not isinstance(query, str) or not query.strip():
            return 'file_search needs a query: {"query": "…"}.'
        await vector_stores_ready(user_id=user_id, vector_store_ids=vector_store_ids)
        results = await sync_to_async(vector_store_search)(
            user_id=user_id, vector_store_ids=vector_store_ids, query=query, max_num_results=limit
        )
        best = results[0].score if results else 0
        # Scores are the index's, made relative to the best result so a threshold means the same anywhere.
        scored = [(result, result.score / best) for result in results if best > 0]
        search, searches = searches, searches + 1
        return results_output(
            search=search,
            query=query,
            results=[(result, score) for result, score in scored if score >= threshold],
            ranking=ranking,
        )

    return FunctionTool(
        name=FILE_SEARCH_TOOL,
        description="Search the files attached to this assistant and conversation; returns the best passages, each "
        "with the marker to cite it by (write the marker, as given, after the sentence that uses the passage).",
        params_json_schema={
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to look for, in words."}},
            "required": ["query"],
            "additionalProperties": False,
        },
        on_invoke_tool=invoke,
        strict_json_schema=True,
        # Its outcome, as an MCP call's: answered (a failure raises, and is reported as one).
        custom_data_extractor=lambda _context: {"server": "", "is_error": False},
    )


async def assistant_agent_build(
    *,
    assistant: Assistant,
    user_id: int,
    username: str,
    instructions: str,
    servers: list[MCPServer] | None = None,
    functions: list[dict[str, Any]] | None = None,
    function_outputs: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    input_guardrails: list[InputGuardrail] | None = None,
    output_guardrails: list[OutputGuardrail] | None = None,
    handoffs: list[Handoff] | None = None,
    extra_tools: list[Tool] | None = None,
    vector_store_ids: list[str] | None = None,
    refusal: str | None = None,
    model_name: str | None = None,
) -> AgentBuild:
    """Build the SDK agent for one run: the provider's model plus pooled MCP servers (`servers`: the
    assistant's enabled ones, when the caller has read them already) and function tools (`functions`: the
    run's own, else the assistant's), whose outputs the caller puts in `function_outputs`; a run's `overrides`
    (`Run.overrides`) replace the assistant's settings. A server that cannot be reached is left out of this run
    (`AgentBuild.skipped`) and the model is told which tools are missing. `input_guardrails` and
    `output_guardrails` are the SDK's tripwires the caller checks the run with; `handoffs` and `extra_tools` are
    the other assistants it may hand off to or ask (the caller builds them the same way). With file_search on, the run
    searches the assistant's vector stores and `vector_store_ids` (its thread's). `refusal` is
    `assistant_run_refusal`'s answer for `servers`, when the caller has asked it already. `model_name` is the
    run's model, where it is not the assistant's (a conversation or a run may pick another its provider serves)."""
    provider = assistant.provider
    if not provider.enabled:
        raise AssistantUnavailable(f"The provider '{provider.name}' is disabled.")
    if provider.base_url and (refusal := await url_refusal_async(provider.base_url)):
        raise AssistantUnavailable(f"The provider '{provider.name}': {refusal}")
    model_name = model_name or assistant.model_name
    if not model_name:
        raise AssistantUnavailable(f"The assistant '{assistant.name}' has no model and its provider no default.")
    if servers is None:
        servers = [config async for config in assistant.mcp_servers.filter(enabled=True).order_by("name")]
    if refusal is None:
        refusal = await sync_to_async(assistant_run_refusal)(
            assistant=assistant,
            user=await get_user_model().objects.filter(pk=user_id).afirst(),
            server_ids=[server.pk for server in servers],
        )
    if refusal:
        raise AssistantUnavailable(refusal)
    connected, listed, skipped = await _servers_connect(configs=servers, user_id=user_id, username=username)
    seen: set[str] = set()
    collide = False
    for tools in listed:
        names = {tool.name for tool in tools}
        collide = collide or bool(names & seen)
        seen |= names
    if skipped:
        instructions = "\n\n".join(part for part in (instructions, _skipped_note(skipped)) if part)
    functions = assistant.functions if functions is None else functions
    overrides = overrides or {}
    agent = Agent(
        name=assistant.name,
        instructions=instructions or None,
        model=model_build(provider=provider, model_name=model_name),
        model_settings=model_settings_build(assistant, overrides),
        output_type=output_schema_build(overrides.get("response_format") or assistant.response_format),
        mcp_servers=connected,
        # Two servers offering the same tool name: the model sees each under its server's prefix.
        mcp_config={"include_server_in_tool_names": collide},
        tools=[
            *function_tools_build(functions, {} if function_outputs is None else function_outputs),
            *(extra_tools or []),
        ],
        handoffs=list(handoffs or []),
        input_guardrails=input_guardrails or [],
        output_guardrails=output_guardrails or [],
    )
    # A thread with files of its own (a message's attachments) is searched even where the assistant has no
    # file_search set: the user gave the files to be read.
    search = overrides["file_search"] if overrides.get("file_search") is not None else assistant.file_search
    if search is not None or vector_store_ids:
        stores = (assistant.tool_resources or {}).get("file_search", {}).get("vector_store_ids", [])
        stores = list(dict.fromkeys([*stores, *(vector_store_ids or [])]))
        agent.tools.append(file_search_tool_build(user_id=user_id, vector_store_ids=stores, settings=search or {}))
    tool_servers = {}
    for tool in await agent.get_mcp_tools(RunContextWrapper(context=None)):
        origin = get_function_tool_origin(tool) if isinstance(tool, FunctionTool) else None
        tool_servers[tool.name] = (origin.mcp_server_name or "") if origin else ""
    clash = sorted({function["name"] for function in functions} & set(tool_servers))
    if clash:
        raise AssistantUnavailable(
            f"The function tool(s) {', '.join(clash)} have the name of an MCP tool of this assistant: rename them."
        )
    return AgentBuild(
        agent=agent,
        servers=connected,
        tool_servers=tool_servers,
        skipped=skipped,
        functions=frozenset(function["name"] for function in functions),
    )
