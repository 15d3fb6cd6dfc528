"""A run's claim by this process and what it starts from: the rows read with the claim, a paused run's state resumed;
and the heartbeat that keeps this process's claims alive."""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from agents import RunState, custom_span
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from assistants.models import ModelPrice
from assistants.services import assistant_run_refusal
from chat.expiry import runs_expire_stale
from chat.models import Message, Run
from chat.prompt_budget import run_last_messages
from chat.selectors import Attached, Branch, conversation_model_input
from chat.tool_steps import field_of
from guardrails.services import guardrails_read
from mcp_servers.models import MCPServer
from teams.services import links_read

DENIED_MESSAGE = "The user refused this tool call."
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class RunStart:
    run: Run
    servers: list[MCPServer] = field(default_factory=list)
    model_input: list[Any] | None = None
    attached: list[Attached] = field(default_factory=list)  # its messages with MCP resources, read as it starts
    price: ModelPrice | None = None
    guardrails: list[Any] = field(default_factory=list)
    links: list[Any] = field(default_factory=list)
    follows: str | None = None  # a resumed run's last answer, which its next one follows
    refusal: str | None = None  # why its owner may no longer run its assistant ("" if they may)
    error: Exception | None = None  # reading failed after the claim: the run fails with it


def run_claim(run_id: str, loaded: Run | None, branch: Branch | None = None) -> RunStart | None:
    """Claim a queued run and read what it starts from (its MCP servers, the model's input) in one trip to
    the database thread. None if it was not ours to claim. `branch` is the branch its model input is read from,
    when the run's store knows it."""
    now = timezone.now()
    claim = {"status": Run.Status.IN_PROGRESS, "started_at": now, "worker": WORKER_ID, "heartbeat_at": now}
    if not Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(**claim):
        return None
    if loaded is not None:
        run = loaded
        for name, value in claim.items():
            setattr(run, name, value)
    else:
        run = Run.objects.select_related("assistant__provider", "conversation__owner").get(pk=run_id)
    start = RunStart(run)
    try:
        if run.assistant is not None:
            start.servers = list(run.assistant.mcp_servers.filter(enabled=True).order_by("name"))
            start.refusal = assistant_run_refusal(
                assistant=run.assistant,
                user=run.conversation.owner,
                server_ids=[server.pk for server in start.servers],
            )
        if not run.paused_state:
            start.model_input = conversation_model_input(
                conversation_id=run.conversation_id,
                last_messages=run_last_messages(run),
                attached=start.attached,
                branch=branch,
            )
        else:
            answers = Message.objects.filter(run=run, role=Message.Role.ASSISTANT).order_by("-id")
            start.follows = answers.values_list("pk", flat=True).first()
        start.price = ModelPrice.objects.for_model(provider_id=run.provider_id, model=run.model)
        if run.assistant is not None:
            # Read here, in the one trip the claim makes, not in one trip each while the run is built.
            start.guardrails = guardrails_read(run.assistant)
            start.links = links_read(run.assistant_id)
    except Exception as exc:  # noqa: BLE001 - recorded as the run's failure by the caller
        start.error = exc
    return start


async def run_state_resume(run: Run, agent: Any, function_outputs: dict[str, str]) -> RunState:
    """The paused agent state with the user's decisions applied to each waiting call, and the outputs the
    caller submitted for its function calls put where those calls will return them."""
    state = await RunState.from_string(agent, run.paused_state)
    approvals = run.metadata.get("approvals") or {}
    paused_at = run.metadata.get("paused_at")
    if isinstance(paused_at, int | float):
        waited_ms = max(0, int((time.time() - paused_at) * 1000))
        with custom_span("approval.wait", {"tool_call_ids": sorted(approvals), "waited_ms": waited_ms}):
            pass
    for item in state.get_interruptions():
        call_id = field_of(item.raw_item, "call_id")
        decision = approvals.get(call_id) or {"approve": False}
        if "output" in decision:
            function_outputs[call_id] = decision["output"]
        if decision["approve"]:
            state.approve(item)
        else:
            state.reject(item, rejection_message=decision.get("reason") or DENIED_MESSAGE)
    return state


def runs_beat(run_ids: list[str]) -> None:
    """Mark this process's runs alive, and expire those of processes that died."""
    # No request ends in here to drop a dead or expired connection, so each beat does.
    close_old_connections()
    try:
        if run_ids:
            # Runs waiting for a slot are ours too, though no worker has claimed them yet.
            Run.objects.filter(Q(worker=WORKER_ID) | Q(status=Run.Status.QUEUED), pk__in=run_ids).update(
                heartbeat_at=timezone.now()
            )
        runs_expire_stale()
    finally:
        close_old_connections()
