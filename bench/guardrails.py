"""What each guardrail kind adds to a chat turn, measured: the median turn with one guardrail of each kind on
the input and the output, against the same turns with none.

    .venv/bin/python -m bench.guardrails [--rounds 8] [--turns 10]

The real ASGI app in this process, one WebSocket per conversation, the offline model, a fresh SQLite file; the
moderation and LLM-judge guardrails ask the local OpenAI-speaking fake (it answers at once, so what they add is
Switchboard's side of one HTTP round trip on loopback plus, for the judge, one Agents SDK run; a real provider
adds its own latency on top). The kinds take turns round by round, each on a fresh conversation, so a drift of
the machine falls on all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async

from bench.procs import Procs
from bench.run import CONTENT, Bench, Counts, inproc_setup
from tests.fakes.openai_server import FakeOpenAIServer, text

KINDS = ("none", "blocklist", "max_length", "pii", "moderation", "llm_judge")


def _fields(kind: str, vendor: Any, judge: Any) -> dict[str, Any]:
    return {
        "blocklist": {"words": ["secret plan", "password", "launch code"], "patterns": [r"\bproject-\d+\b"]},
        "max_length": {"max_chars": 5000},
        "pii": {"pii_types": ["email", "phone", "card"]},
        "moderation": {"provider": vendor},
        "llm_judge": {"judge": judge, "question": "Does it ask for medical advice?"},
    }[kind]


def _conversation_for(kind: str, base_url: str, thread_id: str) -> str:
    """A fresh conversation of the bench's plain assistant, checked by one guardrail of `kind` (none: none)."""
    from assistants.models import Assistant, Provider
    from chat.models import Conversation
    from guardrails.models import Guardrail

    owner = Conversation.objects.get(pk=thread_id).owner
    assistant = Assistant.objects.get(name="Bench plain")
    Guardrail.objects.filter(assistant=assistant).delete()
    vendor, _ = Provider.objects.get_or_create(
        name="Bench guardrail vendor",
        defaults={"kind": Provider.Kind.OPENAI, "base_url": base_url, "api_key": "sk-bench", "default_model": "fake"},
    )
    judge, _ = Assistant.objects.get_or_create(name="Bench judge", defaults={"provider": vendor, "owner": owner})
    if kind != "none":
        Guardrail.objects.create(
            assistant=assistant, name=kind, kind=kind, stage="both", **_fields(kind, vendor, judge)
        )
    return Conversation.objects.create(owner=owner, assistant=assistant, title=f"guardrail {kind}").pk


def _one_of_each(base_url: str, thread_id: str) -> None:
    """One guardrail of every kind (not on the assistant: nothing else checks with them)."""
    from assistants.models import Assistant, Provider
    from guardrails.models import Guardrail

    _conversation_for("none", base_url, thread_id)  # the vendor and the judge exist from here

    vendor = Provider.objects.get(name="Bench guardrail vendor")
    judge = Assistant.objects.get(name="Bench judge")
    for kind in KINDS[1:]:
        Guardrail.objects.create(name=kind, kind=kind, stage="input", enabled=False, **_fields(kind, vendor, judge))


async def checks_alone(repeats: int) -> dict[str, float]:
    """The median time of one check of CONTENT by each kind on its own, in ms: the part of a turn that is the
    guardrail's, free of the rest of the turn's noise (a turn with a guardrail on both stages checks twice)."""
    from assistants.models import Assistant
    from guardrails.checks import check_for
    from guardrails.models import Guardrail

    rows = await sync_to_async(
        lambda: {
            g.kind: g for g in Guardrail.objects.filter(assistant=None).select_related("provider", "judge__provider")
        }
    )()
    assistant = await Assistant.objects.select_related("provider").aget(name="Bench plain")
    medians = {}
    for kind, guardrail in rows.items():
        check = check_for(guardrail, assistant)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await check.refusal(CONTENT)
            times.append(time.perf_counter() - started)
        medians[kind] = statistics.median(times) * 1000
    return medians


async def measure(
    *, cookie: str, session: str, thread_id: str, rounds: int, turns: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    from bench.measure import _communicator, _communicator_turn

    elapsed: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with FakeOpenAIServer() as fake:
        fake.always(text("no"))  # the judge's answer: the turn goes on
        warm = await _communicator(thread_id, cookie, session)
        await _communicator_turn(warm, CONTENT)  # the first run imports and connects: not counted
        await warm.disconnect()
        for _ in range(rounds):
            for kind in KINDS:
                conversation = await sync_to_async(_conversation_for)(kind, fake.base_url, thread_id)
                communicator = await _communicator(conversation, cookie, session)
                await _communicator_turn(communicator, CONTENT)  # this guardrail's first check: not counted
                for _ in range(turns):
                    started = time.perf_counter()
                    await _communicator_turn(communicator, CONTENT)
                    elapsed[kind].append(time.perf_counter() - started)
                await communicator.disconnect()
        await sync_to_async(_one_of_each)(fake.base_url, thread_id)
        alone = await checks_alone(50)
    return elapsed, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--turns", type=int, default=10, help="turns per kind and round")
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-guardrails-"))
    bench = Bench(counts=Counts.for_mode(True), tmp=tmp, procs=Procs(tmp))
    _, inproc = inproc_setup(bench, bench.counts)
    elapsed, alone = asyncio.run(
        measure(
            cookie=inproc["cookie"],
            session=inproc["session"],
            thread_id=inproc["threads"]["plain"][0],
            rounds=options.rounds,
            turns=options.turns,
        )
    )
    base = statistics.median(elapsed["none"]) * 1000
    print(
        f"{'guardrail (input and output)':<30} {'turns':>5} {'median ms':>10} {'p90 ms':>8} {'adds ms':>8}"
        f" {'one check ms':>13}"
    )
    for kind, values in elapsed.items():
        median = statistics.median(values) * 1000
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        check = f"{alone[kind]:>13.3f}" if kind in alone else f"{'':>13}"
        print(f"{kind:<30} {len(values):>5} {median:>10.1f} {p90:>8.1f} {median - base:>+8.1f} {check}")


if __name__ == "__main__":
    main()
