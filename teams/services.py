"""Workflows for teams: an owner links assistants; a run builds the SDK's handoffs and agent tools from the links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from agents import Handoff, RunContextWrapper, Tool, handoff
from agents.tool import default_tool_error_function
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from assistants.models import Assistant
from assistants.services import ServerSkipped, assistant_agent_build, assistant_get
from core.errors import ServiceError
from core.presence import rows_exist
from guardrails.services import (
    GuardrailSet,
    agent_tool_calls_guard,
    guardrail_trip,
    guardrails_build,
    guardrails_read,
    handoff_input_check,
)
from teams.models import Link

# How deep a team goes: a handoff target's own links count one level down, and so on.
DEPTH_MAX = 3


def link_list(*, assistant: Assistant) -> QuerySet[Link]:
    return Link.objects.filter(assistant=assistant).select_related("target")


def _reaches(start: str, goal: str) -> bool:
    """Whether `goal` is reachable from `start` through links of any kind."""
    seen, frontier = {start}, [start]
    while frontier:
        targets = set(Link.objects.filter(assistant_id__in=frontier).values_list("target_id", flat=True))
        if goal in targets:
            return True
        frontier = list(targets - seen)
        seen |= targets
    return False


def link_create(
    *, user: AbstractBaseUser, assistant: Assistant, target: Assistant, kind: str, description: str = ""
) -> Link:
    """Let an assistant the user may change hand off to, or ask, another assistant they may use."""
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    try:
        target = assistant_get(user=user, assistant_id=target.pk)
    except ServiceError:
        raise ServiceError.invalid({"target": ["Choose an assistant you may use."]}) from None
    if kind not in Link.Kind.values:
        raise ServiceError.invalid({"kind": [f"Choose one of: {', '.join(Link.Kind.values)}."]})
    if target.pk == assistant.pk:
        raise ServiceError.invalid({"target": ["An assistant cannot hand off to or ask itself."]})
    if Link.objects.filter(assistant=assistant, target=target, kind=kind).exists():
        raise ServiceError.invalid({"target": [f"{assistant.name} already has this link to {target.name}."]})
    if _reaches(target.pk, assistant.pk):
        raise ServiceError.invalid(
            {"target": [f"{target.name} already leads back to {assistant.name}: the link would make a cycle."]},
            code="team_cycle",
        )
    description = (description or "").strip()
    if len(description) > Link._meta.get_field("description").max_length:
        raise ServiceError.invalid({"description": ["Enter at most 500 characters."]})
    return Link.objects.create(assistant=assistant, target=target, kind=kind, description=description)


def link_delete(*, user: AbstractBaseUser, assistant: Assistant, link_id: int | str) -> None:
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    try:
        link = Link.objects.get(pk=int(link_id), assistant=assistant)
    except (Link.DoesNotExist, ValueError, TypeError):
        raise ServiceError.not_found("link", str(link_id)) from None
    link.delete()


# --- In a run -------------------------------------------------------------------------------------------------


@dataclass
class TeamBuild:
    """What an agent is given from its links, and what its team members' tools are called."""

    handoffs: list[Handoff] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    # The name the model sees for each MCP tool of a team member, and the server it lives on.
    tool_servers: dict[str, str] = field(default_factory=dict)
    skipped: list[ServerSkipped] = field(default_factory=list)
    # Which assistant each team member is, by its agent's name: who answers after a handoff.
    assistants: dict[str, str] = field(default_factory=dict)
    # Whether an assistant it may hand off to checks its answers: the run then holds each answer back until
    # it passed (guardrails.services.answer_withheld).
    output_checked: bool = False


def links_read(assistant_id: str) -> list[Link]:
    """An assistant's links, with their targets and providers (the executor reads them with the run's start)."""
    if not rows_exist(Link):
        return []
    return list(Link.objects.filter(assistant_id=assistant_id).select_related("target__provider"))


def _agent_tool_outcome(_context: Any) -> dict[str, Any]:
    # Another assistant answered: the call succeeded (a failure raises, and is reported as one).
    return {"server": "", "is_error": False}


# Where the events of a team member's run go, when it is asked as a tool: the run's recorder.
member_events: ContextVar[Callable[[dict[str, Any]], Awaitable[None]] | None] = ContextVar(
    "member_events", default=None
)


async def _member_event(payload: dict[str, Any]) -> None:
    listener = member_events.get()
    if listener is not None:
        await listener(payload)


def _agent_tool_failure(context: RunContextWrapper[Any], error: Exception) -> str:
    # A member's guardrail stops the run, as the assistant's own would; other failures are the model's to read.
    if guardrail_trip(error) is not None:
        raise error
    return default_tool_error_function(context, error)


async def team_build(
    *,
    assistant: Assistant,
    user_id: int,
    username: str,
    depth: int = 1,
    links: list[Link] | None = None,
    guardrails: GuardrailSet | None = None,
) -> TeamBuild:
    """The handoffs and agent tools of one run of this assistant: each linked assistant with its own provider,
    model, instructions, MCP servers and guardrails, and its own links in turn, `DEPTH_MAX` levels deep at most.

    `guardrails` are the assistant's own. A member asked as a tool runs with its own guardrails (the mandatory
    ones among them) on what it is asked and what it answers. A handoff target takes over the user's
    conversation: its own input guardrails check the message at the handoff, and its answers and tool calls pass
    its own guardrails and those of the assistant that handed off to it (each guardrail once)."""
    team = TeamBuild()
    if depth > DEPTH_MAX:
        return team
    guardrails = guardrails or GuardrailSet()
    if links is None:
        links = await sync_to_async(links_read)(assistant.pk)
    for link in links:
        rows = await sync_to_async(guardrails_read)(link.target)
        if link.kind == Link.Kind.HANDOFF:
            own = await guardrails_build(assistant=link.target, rows=[g for g in rows if g.pk not in guardrails.ids])
            checks = GuardrailSet(output=own.output, tool_calls=own.tool_calls, ids=own.ids) + GuardrailSet(
                output=guardrails.output, tool_calls=guardrails.tool_calls, ids=guardrails.ids
            )
        else:
            checks = own = await guardrails_build(assistant=link.target, rows=rows)
        member = await team_build(
            assistant=link.target, user_id=user_id, username=username, depth=depth + 1, guardrails=checks
        )
        build = await assistant_agent_build(
            assistant=link.target,
            user_id=user_id,
            username=username,
            instructions=link.target.instructions,
            handoffs=member.handoffs,
            extra_tools=member.tools,
            # An agent asked as a tool starts a run of its own, which checks its input; a handoff target's
            # input is checked at the handoff.
            input_guardrails=checks.input if link.kind == Link.Kind.TOOL else [],
            output_guardrails=checks.output,
        )
        agent_tool_calls_guard(build.agent, checks.tool_calls)
        team.tool_servers |= member.tool_servers | build.tool_servers
        team.skipped += member.skipped + build.skipped
        team.assistants |= member.assistants | {link.target.name: link.target.pk}
        description = link.description or link.target.description
        if link.kind == Link.Kind.HANDOFF:
            team.output_checked = team.output_checked or bool(checks.output) or member.output_checked
            team.handoffs.append(
                handoff(
                    build.agent,
                    tool_name_override=link.tool_name,
                    tool_description_override=description or f"Hand the conversation off to {link.target.name}.",
                    input_filter=handoff_input_check(build.agent, own.input) if own.input else None,
                )
            )
        else:
            tool = build.agent.as_tool(
                tool_name=link.tool_name,
                tool_description=description or f"Ask {link.target.name}.",
                failure_error_function=_agent_tool_failure,
                on_stream=_member_event,
            )
            tool.custom_data_extractor = _agent_tool_outcome
            team.tools.append(tool)
    return team
