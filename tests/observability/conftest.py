from __future__ import annotations

import glob
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import agents
import pytest

from chat.models import Conversation, Run
from observability.processor import TraceStore
from observability.services import trace_store_get


@pytest.fixture(scope="session", autouse=True)
def _metric_files_forget() -> Iterator[None]:
    """These tests count under labels of their own (see `unique`); drop this process's metric files at the end
    instead of letting the next process fold those series into the directory's archive for good."""
    yield
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    for name in glob.glob(os.path.join(directory, f"*_{os.getpid()}.db")):
        os.remove(name)


@pytest.fixture
def store() -> TraceStore:
    """This process's trace store, the one the Agents SDK reports to."""
    return trace_store_get()


@pytest.fixture
def conversation(alice, offline_provider) -> Conversation:
    from assistants.models import Assistant

    assistant = Assistant.objects.create(name="Tracer", owner=alice, provider=offline_provider)
    return Conversation.objects.create(owner=alice, assistant=assistant, title="Traced talk")


@pytest.fixture
def run(conversation) -> Run:
    return Run.objects.create(
        conversation=conversation, assistant=conversation.assistant, status=Run.Status.COMPLETED, model="offline"
    )


def new_trace_id() -> str:
    return f"trace_{secrets.token_hex(16)}"


def run_metadata(run: Run, **extra: str) -> dict[str, str]:
    """The metadata the run executor puts on a run's trace (all strings)."""
    return {
        "run_id": run.pk,
        "thread_id": run.conversation_id,
        "user_id": str(run.conversation.owner_id),
        "assistant_id": run.assistant_id or "",
        "provider": "Offline",
        "model": run.model,
        **extra,
    }


@contextmanager
def run_trace(run: Run, *, trace_id: str | None = None, status: str = "completed", **metadata: str) -> Iterator[Any]:
    """A run's trace as the executor opens it, ended by its `run.end` span."""
    with agents.trace(
        workflow_name="switchboard-run",
        trace_id=trace_id or new_trace_id(),
        group_id=run.conversation_id,
        metadata=run_metadata(run, **metadata),
    ) as trace:
        yield trace
        with agents.custom_span("run.end", {"status": status, "error_code": "" if status == "completed" else "x"}):
            pass


def metric_value(text: str, sample: str, **labels: str) -> float:
    """One sample's value in a Prometheus text exposition (0 when absent), after checking that it parses."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = "scrape-" + secrets.token_hex(8)
    return settings.METRICS_TOKEN


@pytest.fixture
def unique() -> str:
    """A suffix for label values (provider, model, server names), so concurrent test processes sharing the
    metrics directory never move the series a test looks at."""
    return secrets.token_hex(4)
