"""Workflows for teams: an owner links assistants; a run builds the SDK's handoffs and agent tools from the links."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents import Handoff, Tool, handoff
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from assistants.models import Assistant
from assistants.services import ServerSkipped, assistant_agent_build, assistant_get
from core.errors import ServiceError
from core.presence import rows_exist
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


def links_read(assistant_id: str) -> list[Link]:
    """An assistant's links, with their targets and providers (the executor reads them with the run's start)."""
    if not rows_exist(Link):
        return []
    return list(Link.objects.filter(assistant_id=assistant_id).select_related("target__provider"))


def _agent_tool_outcome(_context: Any) -> dict[str, Any]:
    # Another assistant answered: the call succeeded (a failure raises, and is reported as one).
    return {"server": "", "is_error": False}


async def team_build(
    *, assistant: Assistant, user_id: int, username: str, depth: int = 1, links: list[Link] | None = None
) -> TeamBuild:
    """The handoffs and agent tools of one run of this assistant: each linked assistant with its own provider,
    model, instructions and MCP servers, and its own links in turn, `DEPTH_MAX` levels deep at most."""
    team = TeamBuild()
    if depth > DEPTH_MAX:
        return team
    if links is None:
        links = await sync_to_async(links_read)(assistant.pk)
    for link in links:
        member = await team_build(assistant=link.target, user_id=user_id, username=username, depth=depth + 1)
        build = await assistant_agent_build(
            assistant=link.target,
            user_id=user_id,
            username=username,
            instructions=link.target.instructions,
            handoffs=member.handoffs,
            extra_tools=member.tools,
        )
        team.tool_servers |= member.tool_servers | build.tool_servers
        team.skipped += member.skipped + build.skipped
        team.assistants |= member.assistants | {link.target.name: link.target.pk}
        description = link.description or link.target.description
        if link.kind == Link.Kind.HANDOFF:
            team.handoffs.append(
                handoff(
                    build.agent,
                    tool_name_override=link.tool_name,
                    tool_description_override=description or f"Hand the conversation off to {link.target.name}.",
                )
            )
        else:
            tool = build.agent.as_tool(
                tool_name=link.tool_name, tool_description=description or f"Ask {link.target.name}."
            )
            tool.custom_data_extractor = _agent_tool_outcome
            team.tools.append(tool)
    return team
