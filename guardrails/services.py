"""Workflows for guardrails: an owner adds and removes them; a run gets them as the Agents SDK's tripwires."""

from __future__ import annotations

import copy
import json
import logging
import time
import types
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    HandoffInputData,
    HandoffInputFilter,
    InputGuardrail,
    OutputGuardrail,
    RunContextWrapper,
)
from agents.exceptions import (
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    ToolInputGuardrailTripwireTriggered,
)
from agents.tool import FunctionTool
from agents.tool_guardrails import ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData
from agents.tracing import guardrail_span
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from assistants.models import Assistant, Provider
from assistants.services import assistant_get, provider_usable
from core.audit import audit_entry
from core.errors import ServiceError
from core.models import AuditEntry
from core.presence import rows_exist
from guardrails.checks import check_for
from guardrails.models import Guardrail

logger = logging.getLogger(__name__)

# The audit log's action for a run a guardrail stopped.
GUARDRAIL_TRIPPED = "guardrail_tripped"

# Fields an owner may set on a guardrail of their assistant; `assistant` and `mandatory` never come from input.
GUARDRAIL_FIELDS = frozenset(
    {"name", "kind", "stage", "enabled", "words", "patterns", "max_chars", "pii_types", "phone_region", "provider",
     "judge", "question"}
)  # fmt: skip


def guardrail_list(*, assistant: Assistant) -> QuerySet[Guardrail]:
    """The guardrails that check an assistant's runs: its own, then the mandatory ones every assistant has."""
    return Guardrail.objects.for_assistant(assistant).select_related("judge", "provider").order_by("-assistant", "name")


def guardrail_create(*, user: AbstractBaseUser, assistant: Assistant, **fields: Any) -> Guardrail:
    """Add a guardrail to an assistant the user may change."""
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    unknown = sorted(set(fields) - GUARDRAIL_FIELDS)
    if unknown:
        raise ServiceError.invalid({name: ["Unknown field."] for name in unknown})
    guardrail = Guardrail(assistant=assistant, **fields)
    errors: dict[str, list[str]] = {}
    try:
        guardrail.full_clean(exclude=["assistant"])
    except ValidationError as exc:
        errors.update({name: list(messages) for name, messages in exc.message_dict.items()})
    judge = fields.get("judge")
    if judge is not None and not Assistant.objects.usable_by(user).filter(pk=judge.pk).exists():
        errors.setdefault("judge", []).append("Choose an assistant you may use.")
    provider = fields.get("provider")
    if provider is not None and not provider_usable(user=user).filter(pk=provider.pk).exists():
        errors.setdefault("provider", []).append("Choose an enabled provider you may use.")
    if errors:
        raise ServiceError.invalid(errors)
    guardrail.save()
    return guardrail


def guardrail_delete(*, user: AbstractBaseUser, assistant: Assistant, guardrail_id: int | str) -> None:
    """Remove one of an assistant's own guardrails (a mandatory one is the administrator's to remove)."""
    assistant = assistant_get(user=user, assistant_id=assistant.pk, for_update=True)
    try:
        guardrail = Guardrail.objects.get(pk=int(guardrail_id), assistant=assistant)
    except (Guardrail.DoesNotExist, ValueError, TypeError):
        raise ServiceError.not_found("guardrail", str(guardrail_id)) from None
    guardrail.delete()


# --- In a run -------------------------------------------------------------------------------------------------


@dataclass
class GuardrailSet:
    """What an agent is given: the SDK's input guardrails (checked before the model is called) and output ones."""

    input: list[InputGuardrail] = field(default_factory=list)
    output: list[OutputGuardrail] = field(default_factory=list)
    # Checked on the arguments of each tool call, before the tool runs.
    tool_calls: list[ToolInputGuardrail] = field(default_factory=list)
    # The guardrails these were built from.
    ids: frozenset[int] = frozenset()

    def __add__(self, other: GuardrailSet) -> GuardrailSet:
        return GuardrailSet(
            input=[*self.input, *other.input],
            output=[*self.output, *other.output],
            tool_calls=[*self.tool_calls, *other.tool_calls],
            ids=self.ids | other.ids,
        )


def _last_user_text(agent_input: str | list[Any]) -> str:
    """The message a run answers: the history before it was checked when it was sent."""
    if isinstance(agent_input, str):
        return agent_input
    for item in reversed(agent_input):
        role = item.get("role") if isinstance(item, dict) else getattr(item, "role", None)
        if role != "user":
            continue
        content = item.get("content") if isinstance(item, dict) else getattr(item, "content", None)
        if isinstance(content, str):
            return content
        parts = [
            part.get("text", "") if isinstance(part, dict) else getattr(part, "text", "") for part in content or []
        ]
        return "\n".join(part for part in parts if part)
    return ""


def _output_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, default=str, ensure_ascii=False)


async def _outcome(guardrail: Guardrail, assistant: Assistant, text: str, stage: str) -> GuardrailFunctionOutput:
    started = time.monotonic()
    reason = await check_for(guardrail, assistant).refusal(text) if text else ""
    info = {
        "kind": guardrail.kind,
        "reason": reason,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        # Which guardrail of which assistant, at which stage: what a trip's audit entry names.
        "guardrail_id": guardrail.pk,
        "assistant_id": assistant.pk,
        "stage": stage,
    }
    return GuardrailFunctionOutput(output_info=info, tripwire_triggered=bool(reason))


def _input_guardrail(guardrail: Guardrail, assistant: Assistant) -> InputGuardrail:
    async def check(_context: RunContextWrapper[Any], _agent: Any, agent_input: Any) -> GuardrailFunctionOutput:
        return await _outcome(guardrail, assistant, _last_user_text(agent_input), "input")

    # Not beside the model call: a refused message never reaches the model.
    return InputGuardrail(guardrail_function=check, name=guardrail.name, run_in_parallel=False)


def _output_guardrail(guardrail: Guardrail, assistant: Assistant) -> OutputGuardrail:
    async def check(_context: RunContextWrapper[Any], _agent: Any, output: Any) -> GuardrailFunctionOutput:
        return await _outcome(guardrail, assistant, _output_text(output), "output")

    return OutputGuardrail(guardrail_function=check, name=guardrail.name)


def _tool_call_guardrail(guardrail: Guardrail, assistant: Assistant) -> ToolInputGuardrail:
    async def check(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        outcome = await _outcome(guardrail, assistant, data.context.tool_arguments or "", "tool")
        info = {**outcome.output_info, "tool": data.context.tool_name}
        if outcome.tripwire_triggered:
            return ToolGuardrailFunctionOutput.raise_exception(output_info=info)
        return ToolGuardrailFunctionOutput.allow(output_info=info)

    return ToolInputGuardrail(guardrail_function=check, name=guardrail.name)


def agent_tool_calls_guard(agent: Agent, guardrails: list[ToolInputGuardrail]) -> None:
    """Check the arguments of every tool call this agent makes (its MCP tools too) with these guardrails.

    An MCP server's tools are made anew from the pooled server each turn, and the server is shared by other runs:
    each turn's tools are copied with this run's guardrails added, rather than the server changed."""
    if not guardrails:
        return
    all_tools = agent.get_all_tools

    async def guarded(_self: Agent, context: RunContextWrapper[Any]) -> list[Any]:
        tools = []
        for tool in await all_tools(context):
            if isinstance(tool, FunctionTool):
                tool = copy.copy(tool)
                tool.tool_input_guardrails = [*(tool.tool_input_guardrails or []), *guardrails]
            tools.append(tool)
        return tools

    agent.get_all_tools = types.MethodType(guarded, agent)


def guardrails_read(assistant: Assistant) -> list[Guardrail]:
    """The guardrails a run of this assistant checks (the executor reads them with the run's start)."""
    if not rows_exist(Guardrail):
        return []
    return list(
        Guardrail.objects.for_assistant(assistant)
        .select_related("provider", "judge__provider")
        .order_by("-assistant", "name", "pk")
    )


async def guardrails_build(*, assistant: Assistant, rows: list[Guardrail] | None = None) -> GuardrailSet:
    """The SDK guardrails of one run of this assistant: its own enabled ones and every mandatory one (`rows`,
    when the caller has read them already)."""
    if rows is None:
        rows = await sync_to_async(guardrails_read)(assistant)
    built = GuardrailSet(ids=frozenset(guardrail.pk for guardrail in rows))
    for guardrail in rows:
        if guardrail.kind == Guardrail.Kind.LLM_JUDGE and guardrail.judge is None:
            continue
        if guardrail.checks_input:
            built.input.append(_input_guardrail(guardrail, assistant))
        if guardrail.checks_output:
            built.output.append(_output_guardrail(guardrail, assistant))
        if guardrail.checks_tool_calls:
            built.tool_calls.append(_tool_call_guardrail(guardrail, assistant))
    return built


@dataclass(frozen=True)
class GuardrailTrip:
    """A guardrail that stopped a run: which one, of which assistant, at which stage, and why."""

    name: str
    stage: str  # input, output or tool
    reason: str
    kind: str = ""
    guardrail_id: int | None = None
    assistant_id: str = ""
    tool: str = ""

    @property
    def message(self) -> str:
        """What the user is told, and the run's last_error."""
        if self.stage == "tool":
            refused = f"The tool-call guardrail “{self.name}” refused a call of `{self.tool or '?'}`"
            return f"{refused}: {self.reason}" if self.reason else f"{refused}."
        what = "refused the message" if self.stage == "input" else "withheld the answer"
        message = f"The {self.stage} guardrail “{self.name}” {what}"
        return f"{message}: {self.reason}" if self.reason else f"{message}."

    def audit_entry(self, *, user: AbstractBaseUser, run_id: str, thread_id: str) -> AuditEntry:
        """The trip's audit entry: names and the reason only, never the text that tripped it (a refusal names
        personal data without quoting it)."""
        details = {"guardrail": self.guardrail_id, "kind": self.kind, "stage": self.stage,
                   "assistant": self.assistant_id, "run": run_id, "thread": thread_id, "reason": self.reason,
                   "outcome": "refused"}  # fmt: skip
        if self.tool:
            details["tool"] = self.tool
        return audit_entry(
            user=user,
            action=GUARDRAIL_TRIPPED,
            target_type="guardrail",
            target_id=str(self.guardrail_id or ""),
            target_name=self.name,
            details=details,
        )


def guardrail_trip(exc: BaseException) -> GuardrailTrip | None:
    """The guardrail that stopped a run with this exception (None if it was something else)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ToolInputGuardrailTripwireTriggered):
        name, info, stage = exc.guardrail.get_name(), exc.output.output_info, "tool"
    elif isinstance(exc, InputGuardrailTripwireTriggered | OutputGuardrailTripwireTriggered):
        result = exc.guardrail_result
        name, info = result.guardrail.get_name(), result.output.output_info
        stage = "input" if isinstance(exc, InputGuardrailTripwireTriggered) else "output"
    else:
        return None
    if not isinstance(info, dict):
        info = {"reason": str(info or "")}
    return GuardrailTrip(
        name=name,
        stage=stage,
        reason=info.get("reason", ""),
        kind=info.get("kind", ""),
        guardrail_id=info.get("guardrail_id"),
        assistant_id=info.get("assistant_id", ""),
        tool=info.get("tool", ""),
    )


def handoff_input_check(agent: Agent, guardrails: list[InputGuardrail]) -> HandoffInputFilter:
    """Check the message a handoff passes on with its target's input guardrails, before the target's model sees
    it (the SDK checks only the first assistant's input)."""

    async def check(data: HandoffInputData) -> HandoffInputData:
        history = data.input_history if isinstance(data.input_history, str) else list(data.input_history)
        for guardrail in guardrails:
            with guardrail_span(guardrail.get_name()) as span:
                result = await guardrail.run(agent, history, data.run_context)
                span.span_data.triggered = result.output.tripwire_triggered
            if result.output.tripwire_triggered:
                raise InputGuardrailTripwireTriggered(result)
        return data

    return check


def guardrail_refusal(exc: BaseException) -> str | None:
    """The message of a run a guardrail stopped (None if it was something else): which one, and why."""
    trip = guardrail_trip(exc)
    return trip.message if trip is not None else None


async def answer_withheld(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The run's stream events with its answer held back until the output guardrails passed it.

    Output guardrails check the final answer once it is whole, after the model streamed it; its text is passed on
    only when the run goes on (a tool call follows it: it was not the final answer) or ends without a tripwire. A
    tripped guardrail raises from the stream, and what was held is dropped: nothing refused is shown.
    """
    held: list[Any] = []
    async for event in events:
        if _is_answer(event):
            held.append(event)
            continue
        if held and event.type == "run_item_stream_event" and event.name == "tool_called":
            for waiting in held:
                yield waiting
            held.clear()
        yield event
    for waiting in held:
        yield waiting


def _is_answer(event: Any) -> bool:
    if event.type == "raw_response_event":
        return getattr(event.data, "type", "") == "response.output_text.delta"
    return event.type == "run_item_stream_event" and event.name == "message_output_created"


def providers_with_moderation(*, user: AbstractBaseUser) -> Iterable[Provider]:
    """The providers the user may pick for a moderation guardrail: OpenAI ones."""
    return provider_usable(user=user).filter(kind=Provider.Kind.OPENAI)
