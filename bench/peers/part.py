"""The peers part of `make bench`: Switchboard, Open WebUI and a Chainlit app, one at a time, on the same fake.

For each system: start-up to the first answered turn and idle RSS, the first token against calling the fake model
directly, a turn that calls one MCP tool, then N concurrent sessions sending turns back to back.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.client import Turn, turns_done, within
from bench.peers.install import PeerUnavailable
from bench.peers.systems import CONTENT, Chainlit, OpenWebUI, Session, Switchboard, System, tree_rss_kib

ERROR_LINE = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")


@dataclass
class PeerCounts:
    first: int  # sequential plain turns for the first-token figures
    tool: int  # sequential one-tool turns
    levels: list[int]  # concurrent sessions
    seconds: float  # how long each level sends turns
    drain: float  # the longest wait for turns still running when the window closes

    @classmethod
    def for_mode(cls, quick: bool) -> PeerCounts:
        if quick:
            return cls(first=20, tool=5, levels=[10, 50], seconds=3.0, drain=20.0)
        return cls(first=100, tool=20, levels=[50, 200], seconds=10.0, drain=30.0)


def percentiles(values: list[float]) -> dict[str, float]:
    """n, p50/p95/p99 (nearest rank), in milliseconds of the given seconds."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan}

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] * 1000

    return {"n": len(ordered), "p50": rank(50), "p95": rank(95), "p99": rank(99)}


async def sequential(system: System, kind: str, content: str, count: int, *, per_session: int = 10) -> list[Turn]:
    """`count` turns one after another (after 2 unmeasured), a new session every `per_session` turns."""
    turns: list[Turn] = []
    index = 0
    while len(turns) < count + 2:
        session = await system.session(kind, index)
        try:
            for _ in range(per_session):
                if len(turns) >= count + 2:
                    break
                turns.append(await session.turn(content))
        finally:
            await session.close()
        index += 1
    return turns[2:]


async def level(system: System, sessions: int, counts: PeerCounts) -> dict[str, Any]:
    """Open `sessions` sessions, then let each send plain turns back to back for `counts.seconds`."""
    pid = system.pid()
    errors: Counter[str] = Counter()
    rss_before = tree_rss_kib(pid)
    handshakes = asyncio.Semaphore(50)

    async def open_one(index: int) -> Session:
        async with handshakes:
            return await system.session("load", index)

    opened = await asyncio.gather(*(open_one(i) for i in range(sessions)), return_exceptions=True)
    open_sessions = [s for s in opened if isinstance(s, Session)]
    for failure in opened:
        if isinstance(failure, BaseException):
            errors[f"connect: {type(failure).__name__}"] += 1
    peak = tree_rss_kib(pid)
    results: list[Turn] = []
    deadline = time.perf_counter() + counts.seconds

    async def talk(session: Session) -> None:
        while time.perf_counter() < deadline:
            results.append(await session.turn(CONTENT))

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, tree_rss_kib(pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.ensure_future(sample())
    unfinished, elapsed = await within([talk(s) for s in open_sessions], counts.seconds + counts.drain)
    sampler.cancel()
    await asyncio.gather(sampler, return_exceptions=True)
    await asyncio.gather(*(s.close() for s in open_sessions), return_exceptions=True)
    done = turns_done(results, errors)
    return {
        "sessions": sessions,
        "connected": len(open_sessions),
        "turns": len(done),
        "tps": len(done) / elapsed if elapsed else 0.0,
        "total": percentiles([t.completed for t in done if t.completed is not None]),
        "first": percentiles([t.first_delta for t in done if t.first_delta is not None]),
        "errors": sum(errors.values()) + unfinished,
        "error_kinds": dict(errors.most_common(3)) | ({"unfinished": unfinished} if unfinished else {}),
        "rss_idle_mib": rss_before / 1024,
        "rss_peak_mib": peak / 1024,
        "kib_per_session": (peak - rss_before) / max(1, sessions),
    }


def log_errors(path: Path) -> dict[str, int]:
    """The exceptions a server logged (`SomeError: message` lines), most common first."""
    if not path.exists():
        return {}
    found = Counter(
        line.strip()[:160] for line in path.read_text(errors="replace").splitlines() if ERROR_LINE.match(line)
    )
    return dict(found.most_common(3))


async def measure(system: System, counts: PeerCounts, fake_url: str) -> dict[str, Any]:
    from bench.measure import model_direct

    row: dict[str, Any] = {"system": system.name}
    started = time.perf_counter()
    try:
        await asyncio.to_thread(system.install)
        row["version"] = system.version
        await system.prepare()
        row["version"] = system.version
        row["startup_s"] = await system.start()
        await asyncio.sleep(1.0)  # let the first answer's allocations settle; nothing to await
        row["rss_idle_mib"] = tree_rss_kib(system.pid()) / 1024
        # The model called directly right before, so both see the same load from the rest of the machine.
        direct, _ = await model_direct(fake_url, "chat_completions", counts.first, shared_client=True)
        row["direct_first"] = percentiles(direct)
        plain = await sequential(system, "plain", CONTENT, counts.first)
        row["first"] = percentiles([t.first_delta for t in plain if t.first_delta is not None and not t.error])
        row["completed"] = percentiles([t.completed for t in plain if t.completed is not None and not t.error])
        row["first_errors"] = sum(1 for t in plain if t.error)
        tool = await sequential(system, "tool", system.tool_content, counts.tool)
        row["tool"] = percentiles([t.completed for t in tool if t.completed is not None and not t.error])
        row["tool_errors"] = sum(1 for t in tool if t.error)
        row["levels"] = []
        for sessions in counts.levels:
            result = await level(system, sessions, counts)
            print(
                f"   {system.name:<22} {sessions:>4} sessions: {result['tps']:6.1f} turns/s, "
                f"p99 {result['total']['p99']:,.0f} ms, errors {result['errors']}",
                flush=True,
            )
            row["levels"].append(result)
    except PeerUnavailable as exc:
        row["unavailable"] = str(exc)
    finally:
        await system.stop()
        await system.close()
    row["log_errors"] = log_errors(system.tmp / f"{system.log}.log")
    row["seconds"] = time.perf_counter() - started
    print(f"   {system.name}: {row['seconds']:.0f} s", flush=True)
    return row


async def peers_part(bench: Any, *, fake_url: str, mcp_url: str, quick: bool) -> dict[str, Any]:
    """Every system, one at a time (they share two cores), against the fake model called directly."""
    counts = PeerCounts.for_mode(quick)
    common = {"procs": bench.procs, "tmp": bench.tmp, "fake_url": fake_url, "mcp_url": mcp_url}
    started = time.perf_counter()
    rows = []
    systems: list[System] = [
        Switchboard(bench=bench, users=max(counts.levels), **common),
        OpenWebUI(**common),
        Chainlit(**common),
    ]
    for system in systems:
        print(f"   {system.name}…", flush=True)
        rows.append(await measure(system, counts, fake_url))
    return {
        "systems": rows,
        "counts": counts.__dict__,
        "seconds": time.perf_counter() - started,
    }
