"""Workflows for assistants."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agents import (
    Agent,
    Handoff,
    InputGuardrail,
    ModelSettings,
    ModelTracing,
    OutputGuardrail,
    RunContextWrapper,
    Tool,
)
from agents.mcp import MCPServer as AgentsMCPServer
from agents.tool import FunctionTool, get_function_tool_origin
from agents.tool_context import ToolContext
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from assistants.errors import provider_error_describe
from assistants.factory import model_build, model_refusal, model_settings_build, output_schema_build
from assistants.models import Assistant, Provider
from core.errors import ServiceError
from core.grants import granted_to
from core.network import url_refusal_async
from files.indexing import indexing_schedule
from files.models import VectorStoreFile
from files.results import results_output
from files.services import (
    SEARCH_RESULTS_DEFAULT,
    file_create,
    file_delete,
    store_files_add,
    vector_store_file_delete,
    vector_store_search,
    vector_stores_ready,
)
from mcp_servers.errors import MCPConnectError
from mcp_servers.models import MCPServer
from mcp_servers.pool import error_text
from mcp_servers.services import mcp_server_connect

User = get_user_model()
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
            assistant=assistant, user_id=user_id, server_ids=[server.pk for server in servers]
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


@dataclass
class ProviderCheck:
    ok: bool
    latency_ms: int
    message: str


async def provider_check(*, provider: Provider, model_name: str = "") -> ProviderCheck:
    """Make one small real request to the provider and report how it went."""
    model_name = model_name or provider.default_model
    if not model_name:
        return ProviderCheck(False, 0, "Set a default model first.")
    if provider.base_url and (refusal := await url_refusal_async(provider.base_url)):
        return ProviderCheck(False, 0, refusal)
    # One attempt only: the admin wants the real answer, not a retried one.
    probe = Provider(**{f.attname: getattr(provider, f.attname) for f in Provider._meta.concrete_fields})
    probe.max_retries = 0
    model = model_build(provider=probe, model_name=model_name)
    started = time.monotonic()
    try:
        await model.get_response(
            None,
            "Reply with the word pong.",
            ModelSettings(max_tokens=16),
            [],
            None,
            [],
            ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        )
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is raised
        latency = int((time.monotonic() - started) * 1000)
        described = provider_error_describe(exc, model=model_name, timeout=provider.timeout)
        message = described[1] if described else f"The request failed ({type(exc).__name__})."
        return ProviderCheck(False, latency, message)
    return ProviderCheck(True, int((time.monotonic() - started) * 1000), f"{model_name} answered.")


# --- Assistant management ---------------------------------------------------------------------------------------

# Fields a caller may set on an assistant; owner and id are never taken from input.
ASSISTANT_FIELDS = frozenset(
    {
        "name",
        "description",
        "instructions",
        "provider",
        "model",
        "temperature",
        "top_p",
        "max_output_tokens",
        "parallel_tool_calls",
        "tool_choice",
        "mcp_servers",
        "functions",
        "file_search",
        "tool_resources",
        "response_format",
        "metadata",
    }
)


def assistant_can_edit(*, user: AbstractBaseUser, assistant: Assistant) -> bool:
    """Owners edit their own assistants; shared ones (no owner) only superusers."""
    if assistant.owner_id is None:
        return bool(user.is_superuser)
    return assistant.owner_id == user.pk


def assistant_get(*, user: AbstractBaseUser, assistant_id: str, for_update: bool = False) -> Assistant:
    """One assistant the user may use; `for_update` also requires that they may change it.

    Another user's assistant is `not_found`, so it looks the same as one that does not exist; a shared one a
    non-superuser may see but not change is `permission_denied`.
    """
    try:
        assistant = Assistant.objects.usable_by(user).select_related("provider").get(pk=assistant_id)
    except (Assistant.DoesNotExist, ValueError, TypeError):
        raise ServiceError.not_found("assistant", assistant_id) from None
    if for_update and not assistant_can_edit(user=user, assistant=assistant):
        raise ServiceError("permission_denied", "Only an administrator can change a shared assistant.")
    return assistant


def provider_usable(*, user: AbstractBaseUser) -> QuerySet[Provider]:
    """Providers a user may pick: the enabled ones granted to everyone or to one of their groups (superusers:
    every enabled one)."""
    providers = Provider.objects.filter(enabled=True)
    if not user.is_superuser:
        providers = providers.filter(granted_to(Provider, user))
    return providers.order_by("name")


def provider_models_known(*, user: AbstractBaseUser, provider: Provider) -> list[str]:
    """The models this provider is known to serve, to offer a user: its default and those of the assistants on it
    the user may use (a vendor's whole list is the vendor's to give), leaving out any it says it cannot serve."""
    assistants = Assistant.objects.usable_by(user).filter(provider=provider)
    names = [provider.default_model, *assistants.values_list("model", flat=True)]
    return sorted({name for name in names if name and not model_refusal(provider=provider, model_name=name)})


def mcp_server_usable(*, user: AbstractBaseUser) -> QuerySet[MCPServer]:
    """Enabled MCP servers a user may attach to their assistants (and run on them).

    Superusers may attach any enabled server. Everyone else may attach the servers granted to everyone or to one
    of their groups, and those on a shared assistant granted to them: an administrator offers a server by
    granting it, or by putting it on a shared assistant. A server configured but not offered stays private, since
    it may reach resources (a stdio command, an internal URL) not meant for every user.

    A server granted to no group also counts where an administrator put it on the user's own assistant (as before
    groups existed); once a server is granted to groups, only the grants and shared assistants decide, so leaving
    the group takes it away. A user's own remote servers (`MCPServer.owner`) are theirs alone.
    """
    # A user's own remote servers are theirs alone, whoever else is asking.
    servers = MCPServer.objects.filter(enabled=True).filter(Q(owner__isnull=True) | Q(owner=user))
    if user.is_superuser:
        return servers.order_by("name")
    attached = MCPServer.assistants.through.objects
    shared = Assistant.objects.usable_by(user).filter(owner__isnull=True).values("pk")
    on_shared = attached.filter(assistant__in=shared).values("mcpserver_id")
    on_own = attached.filter(assistant__owner=user).values("mcpserver_id")
    restricted = MCPServer.groups.through.objects.values("mcpserver_id")
    servers = servers.filter(
        granted_to(MCPServer, user) | Q(pk__in=on_shared) | (Q(pk__in=on_own) & ~Q(pk__in=restricted)) | Q(owner=user)
    )
    return servers.order_by("name")


def assistant_run_refusal(*, assistant: Assistant, user_id: int, server_ids: Iterable[int]) -> str:
    """Why this user may not run this assistant now ("" if they may): its grant, provider or a server was taken
    from them since the conversation began. Every interface's runs end up here, so a revoked grant holds."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "The account that owns this conversation is inactive."
    if user.is_superuser:
        return ""
    if assistant.owner_id is None:
        # A shared assistant brings its provider and servers with its grant.
        if not Assistant.objects.usable_by(user).filter(pk=assistant.pk).exists():
            return f"The assistant '{assistant.name}' is no longer available to you."
        return ""
    if assistant.owner_id != user.pk:
        return f"The assistant '{assistant.name}' is not yours."
    if not provider_usable(user=user).filter(pk=assistant.provider_id).exists():
        return f"The provider '{assistant.provider.name}' is not available to you; choose another for the assistant."
    wanted = set(server_ids)
    if wanted:
        allowed = set(mcp_server_usable(user=user).filter(pk__in=wanted).values_list("pk", flat=True))
        if wanted - allowed:
            names = ", ".join(sorted(MCPServer.objects.filter(pk__in=wanted - allowed).values_list("name", flat=True)))
            return f"The MCP server(s) {names} are not available to you; remove them from the assistant."
    return ""


def _assistant_clean(
    *, user: AbstractBaseUser, assistant: Assistant, mcp_servers: list[MCPServer] | None, provider_changed: bool
) -> None:
    """Validate an unsaved assistant and its servers; refuse with the errors per field."""
    errors: dict[str, list[str]] = {}
    try:
        assistant.full_clean(exclude=["owner", "mcp_servers"])
    except ValidationError as exc:
        errors.update({field: list(messages) for field, messages in exc.message_dict.items()})
    provider = assistant.provider if assistant.provider_id else None
    if provider is not None and "model" not in errors:
        if not (model_name := assistant.model or provider.default_model):
            errors.setdefault("model", []).append("Enter a model: this provider has no default model.")
        elif refusal := model_refusal(provider=provider, model_name=model_name):
            errors.setdefault("model", []).append(refusal)
    added: set[int] = set()
    if mcp_servers is not None:
        adding = assistant._state.adding
        current = set() if adding else set(assistant.mcp_servers.values_list("pk", flat=True))
        added = {server.pk for server in mcp_servers} - current
    for field, messages in assistant_choices_check(
        user=user, provider=provider if provider_changed else None, servers_added=added
    ).items():
        errors.setdefault(field, []).extend(messages)
    if errors:
        raise ServiceError.invalid(errors)


def assistant_choices_check(
    *, user: AbstractBaseUser, provider: Provider | None, servers_added: Iterable[int], whose: str = "you"
) -> dict[str, list[str]]:
    """The errors, per field, of giving an assistant this provider and these newly added servers as `user`.

    A provider or server already on the assistant may stay (even if disabled since): pass only what changes.
    """
    errors: dict[str, list[str]] = {}
    if provider is not None and not provider_usable(user=user).filter(pk=provider.pk).exists():
        errors["provider"] = [f"Choose an enabled provider {whose} may use."]
    added = set(servers_added)
    if added and added - set(mcp_server_usable(user=user).filter(pk__in=added).values_list("pk", flat=True)):
        errors["mcp_servers"] = [f"Choose only MCP servers {whose} may use."]
    return errors


def _unknown_fields(fields: Iterable[str]) -> None:
    unknown = sorted(set(fields) - ASSISTANT_FIELDS)
    if unknown:
        raise ServiceError.invalid({name: ["Unknown field."] for name in unknown})


def assistant_create(
    *,
    user: AbstractBaseUser,
    name: str,
    provider: Provider | None = None,
    model: str = "",
    instructions: str = "",
    description: str = "",
    temperature: float | None = None,
    top_p: float | None = None,
    mcp_servers: Iterable[MCPServer] = (),
    metadata: dict | None = None,
    **settings: Any,
) -> Assistant:
    """Create an assistant owned by the user; without a provider, the first enabled one is used."""
    _unknown_fields(settings)
    if provider is None:
        # The first one set up: on a fresh install, the offline provider.
        provider = provider_usable(user=user).order_by("pk").first()
        if provider is None:
            raise ServiceError.invalid({"provider": ["No provider is enabled; ask an administrator to add one."]})
    assistant = Assistant(
        owner=user,
        name=name.strip() if isinstance(name, str) else name,
        provider=provider,
        model=model,
        instructions=instructions,
        description=description,
        temperature=temperature,
        top_p=top_p,
        metadata={} if metadata is None else metadata,
        **settings,
    )
    servers = list(mcp_servers)
    _assistant_clean(user=user, assistant=assistant, mcp_servers=servers, provider_changed=True)
    with transaction.atomic():
        assistant.save()
        assistant.mcp_servers.set(servers)
    return assistant


def assistant_update(*, user: AbstractBaseUser, assistant: Assistant, **fields: Any) -> Assistant:
    """Change only the given fields of an assistant the user may edit."""
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    _unknown_fields(fields)
    servers = fields.pop("mcp_servers", None)
    servers = None if servers is None else list(servers)
    old_provider_id = assistant.provider_id
    for field, value in fields.items():
        if field == "metadata" and value is None:
            value = {}
        elif field == "name" and isinstance(value, str):
            value = value.strip()
        setattr(assistant, field, value)
    _assistant_clean(
        user=user, assistant=assistant, mcp_servers=servers, provider_changed=assistant.provider_id != old_provider_id
    )
    with transaction.atomic():
        assistant.save()
        if servers is not None:
            assistant.mcp_servers.set(servers)
    return assistant


def assistant_delete(*, user: AbstractBaseUser, assistant: Assistant) -> None:
    """Delete an assistant the user may edit; its conversations stay, showing a deleted assistant."""
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    assistant.delete()


def assistant_duplicate(*, user: AbstractBaseUser, assistant: Assistant) -> Assistant:
    """Copy an assistant the user may use (a shared one too) into a new one the user owns."""
    source = assistant_get(user=user, assistant_id=assistant.pk)
    name_field = Assistant._meta.get_field("name")
    copy = Assistant(
        owner=user,
        name=f"Copy of {source.name}"[: name_field.max_length],
        description=source.description,
        instructions=source.instructions,
        provider=source.provider,
        model=source.model,
        temperature=source.temperature,
        top_p=source.top_p,
        max_output_tokens=source.max_output_tokens,
        parallel_tool_calls=source.parallel_tool_calls,
        tool_choice=source.tool_choice,
        metadata=dict(source.metadata or {}),
    )
    # The source's servers are usable by the user by definition (it is an assistant they may use), and its
    # provider may stay as it is: a copy works exactly as well as the original.
    servers = list(source.mcp_servers.all())
    with transaction.atomic():
        copy.save()
        copy.mcp_servers.set(servers)
    return copy


# --- Knowledge: the files an assistant's file_search reads ---------------------------------------------------------


def assistant_knowledge_store_id(assistant: Assistant) -> str | None:
    """The first vector store the assistant's file_search reads (the one its page adds files to)."""
    ids = (assistant.tool_resources or {}).get("file_search", {}).get("vector_store_ids") or []
    return ids[0] if ids else None


def _knowledge_owned(user: AbstractBaseUser, assistant_id: str) -> Assistant:
    assistant = assistant_get(user=user, assistant_id=assistant_id, for_update=True)
    if assistant.owner_id != user.pk:
        # Stores are their owner's: a shared assistant's would be searched for nobody else.
        raise ServiceError("permission_denied", "Knowledge files are for your own assistants: duplicate this one.")
    return assistant


def _knowledge_add(*, user: AbstractBaseUser, assistant_id: str, uploads: list[Any]) -> list[int]:
    assistant = _knowledge_owned(user, assistant_id)
    if not uploads:
        raise ServiceError("missing_file", "Choose at least one file.", param="files")
    files: list[Any] = []
    try:
        for upload in uploads:
            files.append(file_create(user=user, upload=upload, purpose="assistants"))
        with transaction.atomic():
            store, entry_ids = store_files_add(
                user=user,
                vector_store_id=assistant_knowledge_store_id(assistant),
                files=files,
                name=f"Knowledge of {assistant.name}",
            )
            others = (assistant.tool_resources or {}).get("file_search", {}).get("vector_store_ids", [])
            stores = [store.pk, *(i for i in others if i != store.pk)]
            assistant.tool_resources = {"file_search": {"vector_store_ids": stores}}
            assistant.file_search = assistant.file_search if assistant.file_search is not None else {}
            assistant.save(update_fields=["tool_resources", "file_search"])
    except BaseException:
        # One file refused: none of this upload's files stay behind.
        for file in files:
            file_delete(user=user, file_id=file.pk)
        raise
    return entry_ids


async def assistant_knowledge_add(*, user: AbstractBaseUser, assistant_id: str, uploads: list[Any]) -> None:
    """Give one of the user's assistants files to search: stored, added to its knowledge store (made with the
    first; file_search turned on) and indexed in the background. A refused file leaves none of them behind."""
    entry_ids = await sync_to_async(_knowledge_add)(user=user, assistant_id=assistant_id, uploads=uploads)
    indexing_schedule(entry_ids)


def assistant_knowledge_remove(*, user: AbstractBaseUser, assistant_id: str, file_id: str) -> None:
    """Take a file out of the assistant's knowledge (the file itself stays among the user's files)."""
    assistant = _knowledge_owned(user, assistant_id)
    store_id = assistant_knowledge_store_id(assistant)
    if store_id is None:
        raise ServiceError.not_found("vector store file", file_id)
    vector_store_file_delete(user=user, vector_store_id=store_id, file_id=file_id)


def assistant_knowledge(*, user: AbstractBaseUser, assistant: Assistant) -> list[VectorStoreFile]:
    """The files of the assistant's knowledge store that the user owns, oldest first, with their state."""
    store_id = assistant_knowledge_store_id(assistant)
    if store_id is None:
        return []
    return list(
        VectorStoreFile.objects.filter(vector_store_id=store_id, vector_store__owner=user)
        .select_related("file")
        .order_by("pk")
    )
