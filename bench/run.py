"""`make bench`: measure Switchboard against its floors and its limits, side by side, in one run.

    .venv/bin/python -m bench.run           # the full set (under ~15 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick   # small counts, to check that everything works
    .venv/bin/python -m bench.run --peers-only   # only Switchboard against Open WebUI and Chainlit

It starts its own servers on 127.0.0.1 (free ports, its own SQLite files in a temporary directory, its
own PostgreSQL database and Redis db number for the two-process part), stops them all, prints a Markdown
table and writes it to bench/results/latest.md with a plot of latency against concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.client import Turn, turn, turns_done, within, ws_open
from bench.procs import PYTHON, ROOT, Procs, cpu_seconds, free_port, load_average, machine, port_wait, rss_kib

RESULTS = ROOT / "bench" / "results"
CONTENT = "Hello there, how are you today?"
TOOL_CONTENT = '/add {"a": 1, "b": 2}'
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"
MODEL_LATENCY_MS = 50.0


@dataclass
class Counts:
    turns: int
    demo_turns: int
    echo: int
    sdk: int
    queries: int
    tool_calls: int
    tool_spawns: int
    tool_sessions: int
    tool_turns: int
    model_turns: int
    profile_turns: int
    levels: list[int]
    seconds: float
    drain: float  # the longest wait for turns still running when the window closes

    @classmethod
    def for_mode(cls, quick: bool) -> Counts:
        if quick:
            return cls(50, 20, 100, 100, 10, 40, 3, 10, 10, 20, 40, [10, 50], 3.0, 20.0)
        return cls(500, 100, 1000, 1000, 40, 300, 8, 60, 50, 100, 200, [50, 200, 1000], 10.0, 30.0)


def ms(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) and mean of seconds, in milliseconds."""
    if not values:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "mean": math.nan}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] * 1000

    return {
        "n": len(values),
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "mean": sum(values) / len(values) * 1000,
    }


def f(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


@dataclass
class Bench:
    counts: Counts
    tmp: Path
    procs: Procs
    pg_db: str = ""
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # --- environments and servers --------------------------------------------------------------------------------

    def env(self, name: str, *, db_url: str = "", redis_url: str = "") -> dict[str, str]:
        var = self.tmp / name
        var.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            SWITCHBOARD_VAR_DIR=str(var),
            DATABASE_URL=db_url or f"sqlite:///{var / 'db.sqlite3'}",
            DEBUG="0",  # production settings: DEBUG keeps every query in memory
            SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
            # The bench's users send far more than a person would: the abuse limits would only measure themselves.
            RATE_MESSAGES_PER_MINUTE="1000000",
            RATE_API_PER_MINUTE="1000000",
            RUNS_CONCURRENT_PER_USER="100000",
            # The offline model's pause between words is for people watching: the bench measures the server.
            OFFLINE_STREAM_DELAY_MS="0",
        )
        if redis_url:
            env["REDIS_URL"] = redis_url
        return env

    def prepare(self, env: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
        spec = {"python": PYTHON, "root": str(ROOT), **spec}
        done = subprocess.run(
            [PYTHON, "-m", "bench.prepare", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench data could not be prepared:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def daphne(self, name: str, app: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
        port = free_port()
        proc = self.procs.start(
            name, [PYTHON, "-m", "bench.serve", "-b", "127.0.0.1", "-p", str(port), "-v", "0", app], env=env
        )
        port_wait(port, proc=proc, timeout=60)
        return proc, port

    def mcp_demo(self, transport: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = self.procs.start(
            f"mcp-{transport}",
            [PYTHON, "-m", "mcp_servers.demo", "--transport", transport, "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        port_wait(port, proc=proc, timeout=30)
        path = "/mcp" if transport == "streamable-http" else "/"
        return proc, f"{'ws' if transport == 'websocket' else 'http'}://127.0.0.1:{port}{path}"

    def fake_llm(self) -> tuple[subprocess.Popen, str]:
        proc = self.procs.start(
            "fake-llm",
            [PYTHON, "-m", "bench.fake_llm", "--latency-ms", str(MODEL_LATENCY_MS)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
        )
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("PORT "):
            raise RuntimeError("the fake model server did not start")
        return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"

    # --- WebSocket turns -----------------------------------------------------------------------------------------

    async def turns(
        self, port: int, data: dict[str, Any], threads: list[str], total: int, content: str, warmup: int = 3
    ) -> list[Turn]:
        """`total` turns, spread over the given conversations so no history grows without bound."""
        session, cookie = data["sessions"][0]["session"], data["cookie"]
        per_thread = max(1, math.ceil((total + warmup) / len(threads)))
        results: list[Turn] = []
        for thread_id in threads:
            ws = await ws_open(f"ws://127.0.0.1:{port}/ws/conversations/{thread_id}/", cookie=cookie, session=session)
            try:
                for _ in range(per_thread):
                    if len(results) >= total + warmup:
                        break
                    results.append(await turn(ws, content))
            finally:
                await ws.close()
        errors = [t.error for t in results if t.error]
        if errors:
            self.notes.append(f"{len(errors)} turn(s) failed on '{content[:20]}': {Counter(errors).most_common(3)}")
        return results[warmup:]

    # --- 1. turn overhead ----------------------------------------------------------------------------------------

    async def part_turns(self, port: int, echo_port: int, data: dict[str, Any], pid: int) -> None:
        from bench.measure import sdk_turn

        c = self.counts
        echo = await echo_round_trips(echo_port, c.echo)
        sdk_first, sdk_total = [], []
        for i in range(c.sdk + 10):
            first, total = await sdk_turn(CONTENT)
            if i >= 10:
                sdk_first.append(first)
                sdk_total.append(total)
        cpu_before = cpu_seconds(pid)
        plain = await self.turns(port, data, data["threads"]["plain"], c.turns, CONTENT)
        cpu_per_turn = (cpu_seconds(pid) - cpu_before) / max(1, len(plain)) * 1000
        demo = await self.turns(port, data, data["threads"]["demo"], c.demo_turns, CONTENT)
        self.results["turns"] = {
            "echo": ms(echo),
            "sdk_first": ms(sdk_first),
            "sdk_total": ms(sdk_total),
            "first": ms([t.first_delta for t in plain if t.first_delta is not None]),
            "total": ms([t.completed for t in plain if t.completed is not None]),
            "demo_first": ms([t.first_delta for t in demo if t.first_delta is not None]),
            "demo_total": ms([t.completed for t in demo if t.completed is not None]),
            "errors": sum(1 for t in plain + demo if t.error),
            "server_cpu_ms": cpu_per_turn,
        }

    async def part_tracing(self, port: int, env: dict[str, str], data: dict[str, Any]) -> None:
        """What tracing costs a turn: the same turns against this server (traces on, the default) and a second
        one on the same database with TRACES=0, in alternating rounds so both see the same machine."""
        _, untraced = self.daphne("switchboard-untraced", "config.asgi:application", {**env, "TRACES": "0"})
        threads = data["threads"]["plain"]
        await self.turns(untraced, data, threads, 5, CONTENT, warmup=0)
        on: list[Turn] = []
        off: list[Turn] = []
        per_round = max(10, self.counts.turns // 5)
        for _ in range(5):
            on += await self.turns(port, data, threads, per_round, CONTENT, warmup=1)
            off += await self.turns(untraced, data, threads, per_round, CONTENT, warmup=1)
        self.results["tracing"] = {
            "on": ms([t.first_delta for t in on if t.first_delta is not None]),
            "off": ms([t.first_delta for t in off if t.first_delta is not None]),
            "on_total": ms([t.completed for t in on if t.completed is not None]),
            "off_total": ms([t.completed for t in off if t.completed is not None]),
            "errors": sum(1 for t in on + off if t.error),
        }

    async def profile(self, port: int, data: dict[str, Any], pid: int) -> None:
        """Sample the server with py-spy (every thread, native frames off) while it answers turns."""
        py_spy = shutil.which("py-spy", path=str(Path(PYTHON).parent)) or shutil.which("py-spy")
        if py_spy is None:
            self.notes.append("py-spy is not installed: no profile (`make bench` installs bench/requirements.txt).")
            return
        out = self.tmp / "profile.txt"
        spy = subprocess.Popen(  # noqa: ASYNC220 - starting it is instant; it is stopped by a signal
            [py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            await asyncio.sleep(1.0)  # py-spy attaches asynchronously; there is no event to await
            await self.turns(port, data, data["threads"]["profile"], self.counts.profile_turns, CONTENT, warmup=0)
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        if not out.exists():
            self.notes.append(f"py-spy wrote no profile: {spy.stderr.read().decode()[-300:] if spy.stderr else ''}")
            return
        self.results["profile"] = profile_summary(out.read_text())
        shutil.copy(out, self.tmp / "profile-kept.txt")

    # --- 2. tool calls -------------------------------------------------------------------------------------------

    async def part_tools(self, port: int, data: dict[str, Any], inproc: dict[str, Any], urls: dict[str, str]) -> None:
        from bench.measure import mcp_direct, mcp_per_request, mcp_pooled

        c = self.counts
        rows = {}
        for kind in ("stdio", "streamable_http", "websocket"):
            if kind != "stdio" and kind not in urls:
                continue
            url = urls.get(kind, "")
            direct = await mcp_direct(kind, url, c.tool_calls)
            pooled = await mcp_pooled(inproc["servers"][kind], c.tool_calls)
            spawn = await mcp_per_request(kind, url, c.tool_spawns if kind == "stdio" else c.tool_sessions)
            turns = await self.turns(port, data, data["threads"][f"tool:{kind}"], c.tool_turns, TOOL_CONTENT)
            rows[kind] = {
                "direct": ms(direct),
                "pooled": ms(pooled),
                "per_request": ms(spawn),
                "turn": ms([t.completed for t in turns if t.completed is not None]),
                "step": ms([t.tool_step for t in turns if t.tool_step is not None]),
                "errors": sum(1 for t in turns if t.error),
            }
        self.results["tools"] = rows

    # --- 4. first token against a model with latency -------------------------------------------------------------

    async def part_model(self, port: int, data: dict[str, Any], fake_url: str) -> None:
        from bench.measure import model_direct

        c = self.counts
        rows = {}
        for style in ("chat_completions", "responses"):
            shared_first, shared_total = await model_direct(fake_url, style, c.model_turns, shared_client=True)
            fresh_first, _ = await model_direct(fake_url, style, c.model_turns, shared_client=False)
            turns = await self.turns(port, data, data["threads"][f"fake:{style}"], c.model_turns, CONTENT)
            rows[style] = {
                "direct_first": ms(shared_first),
                "direct_total": ms(shared_total),
                "fresh_first": ms(fresh_first),
                "first": ms([t.first_delta for t in turns if t.first_delta is not None]),
                "total": ms([t.completed for t in turns if t.completed is not None]),
                "errors": sum(1 for t in turns if t.error),
            }
        self.results["model"] = rows

    # --- 3. concurrency ------------------------------------------------------------------------------------------

    async def level(self, ports: list[int], pids: list[int], data: dict[str, Any], sessions: int) -> dict[str, Any]:
        """Open `sessions` sockets, measure idle memory, then let every socket send turns back to back."""
        chosen = data["sessions"][:sessions]
        cookie = data["cookie"]
        handshakes = asyncio.Semaphore(50)  # the listen backlog is small; a browser crowd arrives over time too
        errors: Counter[str] = Counter()

        async def open_one(index: int, entry: dict[str, str]) -> Any:
            port = ports[index % len(ports)]
            url = f"ws://127.0.0.1:{port}/ws/conversations/{entry['thread']}/"
            async with handshakes:
                ws = await ws_open(url, cookie=cookie, session=entry["session"])
            # A ping answered proves the socket is signed in and subscribed (a refused one is closed instead).
            await ws.send('{"type": "ping"}')
            async with asyncio.timeout(120):
                reply = await ws.recv()
            if '"pong"' not in reply:
                raise RuntimeError(f"unexpected first frame {reply[:80]}")
            return ws

        rss_before = sum(rss_kib(pid) for pid in pids)
        pg_before = postgres_sessions(self.pg_db)
        started = time.perf_counter()
        opened = await asyncio.gather(*(open_one(i, e) for i, e in enumerate(chosen)), return_exceptions=True)
        connect_seconds = time.perf_counter() - started
        sockets = [ws for ws in opened if not isinstance(ws, BaseException)]
        for failure in opened:
            if isinstance(failure, BaseException):
                errors[f"connect: {type(failure).__name__}"] += 1
        await asyncio.sleep(1.0)  # let allocations settle before reading RSS; nothing to await
        rss_idle = sum(rss_kib(pid) for pid in pids)
        per_connection = (rss_idle - rss_before) / max(1, len(sockets))

        deadline = time.perf_counter() + self.counts.seconds
        results: list[Turn] = []

        async def talk(ws: Any) -> None:
            # A crowd does not press enter in the same millisecond.
            await asyncio.sleep(random.random() * 0.2)  # noqa: S311
            while True:
                try:
                    results.append(await turn(ws, CONTENT))
                except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the bench
                    errors[f"turn: {type(exc).__name__}"] += 1
                    return
                if time.perf_counter() >= deadline:
                    return

        unfinished, elapsed = await within([talk(ws) for ws in sockets], self.counts.seconds + self.counts.drain)
        rss_after = sum(rss_kib(pid) for pid in pids)
        pg_opened = postgres_sessions(self.pg_db) - pg_before if self.pg_db else 0
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        done = turns_done(results, errors)
        return {
            "sessions": sessions,
            "connected": len(sockets),
            "connect_s": connect_seconds,
            "turns": len(done),
            "tps": len(done) / elapsed if elapsed else 0.0,
            "elapsed": elapsed,
            "total": ms([t.completed for t in done]),
            "first": ms([t.first_delta for t in done if t.first_delta is not None]),
            "errors": sum(errors.values()),
            "unfinished": unfinished,
            "pg_sessions": pg_opened,
            "error_kinds": dict(errors.most_common(5)),
            "kib_per_conn": per_connection,
            "rss_before_mib": rss_before / 1024,
            "rss_idle_mib": rss_idle / 1024,
            "rss_after_mib": rss_after / 1024,
        }

    def runs_settle(self, env: dict[str, str]) -> None:
        """End the runs a stopped level left active (its unfinished turns, killed with their server), so the next
        level's first turns on those conversations are not refused as `run_active` while a sweep catches up."""
        script = (
            "from chat.models import Run; "
            "Run.objects.filter(status__in=Run.ACTIVE).update(status=Run.Status.EXPIRED, last_error_code='expired')"
        )
        done = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            self.notes.append(f"Runs left active by a level could not be ended: {done.stderr[-300:]}")

    async def part_concurrency(self, setups: list[tuple[str, dict[str, str], int, dict[str, Any]]]) -> None:
        rows = []
        for label, env, processes, data in setups:
            for sessions in self.counts.levels:
                servers = [
                    self.daphne(f"{label}-{sessions}-{i}", "config.asgi:application", env) for i in range(processes)
                ]
                try:
                    ports = [port for _, port in servers]
                    for port in ports:  # the first run of a process imports and connects: not measured
                        await self.turns(port, data, data["threads"]["warmup"], 3, CONTENT, warmup=0)
                    row = await self.level(ports, [proc.pid for proc, _ in servers], data, sessions)
                finally:
                    for proc, _ in servers:
                        self.procs.stop(proc)
                    self.runs_settle(env)
                row.update(setup=label, processes=processes)
                print(
                    f"  {label:<28} {sessions:>5} sessions: {row['tps']:7.1f} turns/s,"
                    f" p99 {f(row['total']['p99'], 0)} ms,"
                    f" errors {row['errors']}, unfinished {row['unfinished']}, {f(row['kib_per_conn'])} KiB/conn",
                    flush=True,
                )
                rows.append(row)
        self.results.setdefault("concurrency", []).extend(rows)


async def echo_round_trips(port: int, count: int) -> list[float]:
    from websockets.asyncio.client import connect

    frame = json.dumps({"type": "message.create", "content": CONTENT})
    samples = []
    async with connect(f"ws://127.0.0.1:{port}/echo/", compression=None, ping_interval=None) as ws:
        for i in range(count + 20):
            started = time.perf_counter()
            await ws.send(frame)
            await ws.recv()
            if i >= 20:
                samples.append(time.perf_counter() - started)
    return samples


# --- the profile ------------------------------------------------------------------------------------------------------

BUCKETS = [
    ("Django ORM + DB driver", ("django/db/", "sqlite3", "psycopg")),
    ("Agents SDK", ("agents/",)),
    ("pydantic / openai types", ("pydantic", "openai/")),
    ("Channels + layer", ("channels/", "channels_redis/")),
    ("Daphne / Twisted / autobahn", ("daphne/", "twisted/", "autobahn/", "txaio/")),
    ("asgiref (sync_to_async)", ("asgiref/",)),
    ("MCP", ("mcp/", "mcp_servers/")),
    ("json", ("json/",)),
    ("asyncio", ("asyncio/",)),
    ("Switchboard code", ("/chat/", "/assistants/", "/core/", "/config/")),
]


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rpartition(" ")
    return stack.split(";"), int(count)


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0]})" if where else name


INTERESTING = ("django/db/", "(chat/", "(assistants/", "(mcp_servers/", "(core/", "channels/", "asgiref/", "agents/")


def profile_summary(raw: str) -> dict[str, Any]:
    """From py-spy's collapsed stacks: where the busy samples go, by innermost frame and inclusively."""
    total = 0
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.splitlines():
        if not line.strip():
            continue
        frames, count = _frames(line)
        total += count
        leaf = frames[-1] if frames else ""
        leaves[_short(leaf)] += count
        bucket = next((name for name, marks in BUCKETS if any(m in leaf for m in marks)), "other")
        buckets[bucket] += count
        for name in {_short(frame) for frame in frames if any(m in frame for m in INTERESTING)}:
            inclusive[name] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "leaf": [(name, count / total * 100) for name, count in buckets.most_common()],
        "leaves": [(name, count / total * 100) for name, count in leaves.most_common(12)],
        "ours": [(name, count / total * 100) for name, count in inclusive.most_common(20)],
    }


# --- PostgreSQL and Redis for the two-process part --------------------------------------------------------------------


def postgres_create(name: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - the report says why the part was skipped
        print(f"PostgreSQL unavailable: {exc}", file=sys.stderr)
        return None
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def postgres_sessions(name: str) -> int:
    """PostgreSQL sessions (connections) opened on this database so far, from pg_stat_database."""
    if not name:
        return 0
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [name]).fetchone()
    except Exception:  # noqa: BLE001 - a blank figure, not a failed bench
        return 0
    return int(row[0] or 0) if row else 0


def postgres_drop(name: str) -> None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001
        print(f"could not drop {name}: {exc}", file=sys.stderr)


def redis_flush() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
        client.flushdb()
        client.close()
    except Exception as exc:  # noqa: BLE001
        print(f"Redis unavailable: {exc}", file=sys.stderr)
        return False
    return True


def websocket_mcp_landed() -> bool:
    """The WebSocket MCP transport counts once the pool can build it and the demo server can serve it."""
    try:
        from mcp_servers.transports import Transport

        Transport.for_kind("websocket")
        import mcp_servers.websocket  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return "websocket" in (ROOT / "mcp_servers" / "demo.py").read_text()


# --- main -------------------------------------------------------------------------------------------------------------


async def run_all(bench: Bench, counter: Any, inproc: dict[str, Any], *, quick: bool, peers_only: bool) -> None:
    from bench.peers.part import peers_part

    urls: dict[str, str] = {}
    print("Starting servers…", flush=True)
    _, fake_url = bench.fake_llm()
    _, urls["streamable_http"] = bench.mcp_demo("streamable-http")
    if not peers_only:
        await run_own(bench, counter, inproc, fake_url, urls)
    print("5. Peers: Switchboard, Open WebUI and Chainlit on the same fake model and MCP server…", flush=True)
    bench.results["peers"] = await peers_part(bench, fake_url=fake_url, mcp_url=urls["streamable_http"], quick=quick)


async def run_own(bench: Bench, counter: Any, inproc: dict[str, Any], fake_url: str, urls: dict[str, str]) -> None:
    """Parts 1 to 4: Switchboard against its floors and its limits."""
    from bench.measure import queries_per_turn

    c = bench.counts
    procs = bench.procs
    if websocket_mcp_landed():
        _, urls["websocket"] = bench.mcp_demo("websocket")
    else:
        bench.notes.append("The WebSocket MCP transport has not landed (no `websocket` transport/demo): not measured.")
    inproc.update(servers=await _inproc_servers(urls))

    turn_threads = 25 if c.turns >= 250 else 5
    env = bench.env("one-sqlite")
    data = bench.prepare(
        env,
        {
            "users": max(c.levels),
            "mcp": {k: v for k, v in urls.items()},
            "fake_url": fake_url,
            "threads": {
                "plain": turn_threads,
                "demo": max(2, turn_threads // 2),
                "profile": turn_threads,
                "warmup": 4,
                "tool:stdio": 5,
                "tool:streamable_http": 5,
                "tool:websocket": 5,
                "fake:chat_completions": 5,
                "fake:responses": 5,
            },
        },
    )
    server, port = bench.daphne("switchboard", "config.asgi:application", env)
    _, echo_port = bench.daphne("echo", "bench.echo_asgi:application", {**os.environ, "PYTHONPATH": str(ROOT)})
    await bench.turns(port, data, data["threads"]["warmup"], 5, CONTENT, warmup=0)

    print("1. Turn overhead…", flush=True)
    await bench.part_turns(port, echo_port, data, server.pid)
    print("   tracing on and off…", flush=True)
    await bench.part_tracing(port, env, data)
    print("   profile…", flush=True)
    await bench.profile(port, data, server.pid)
    print("   queries per turn…", flush=True)
    bench.results["queries"] = {
        "plain": await queries_per_turn(
            counter,
            cookie=inproc["cookie"],
            session=inproc["session"],
            threads=inproc["threads"]["plain"],
            content=CONTENT,
            turns=c.queries,
        ),
        "tool": await queries_per_turn(
            counter,
            cookie=inproc["cookie"],
            session=inproc["session"],
            threads=inproc["threads"]["tool:stdio"],
            content=TOOL_CONTENT,
            turns=c.queries,
        ),
    }
    from mcp_servers.pool import get_pool

    await get_pool().close_all()
    print("2. Tool calls…", flush=True)
    await bench.part_tools(port, data, inproc, urls)
    print("4. First token against a model with latency…", flush=True)
    await bench.part_model(port, data, fake_url)
    procs.stop(server)

    print("3. Concurrency…", flush=True)
    setups = [("1 process, SQLite + memory", env, 1, data)]
    db_name = f"switchboard_bench_{os.getpid()}"
    pg_url = postgres_create(db_name)
    try:
        if pg_url and redis_flush():
            pg_env = bench.env("pg-redis", db_url=pg_url, redis_url=REDIS_URL)
            pg_data = bench.prepare(pg_env, {"users": max(c.levels), "threads": {"warmup": 4}})
            setups += [
                ("1 process, PostgreSQL + Redis", pg_env, 1, pg_data),
                ("2 processes, PostgreSQL + Redis", pg_env, 2, pg_data),
            ]
        else:
            bench.notes.append("PostgreSQL or Redis unreachable on 127.0.0.1: the two-process part was skipped.")
        for label, setup_env, processes, setup_data in setups:
            bench.pg_db = db_name if "PostgreSQL" in label else ""
            await bench.part_concurrency([(label, setup_env, processes, setup_data)])
    finally:
        if pg_url:
            postgres_drop(db_name)
            redis_flush()


async def _inproc_servers(urls: dict[str, str]) -> dict[str, int]:
    from asgiref.sync import sync_to_async

    from mcp_servers.models import MCPServer

    def create() -> dict[str, int]:
        ids = {}
        for kind, url in [("stdio", ""), *urls.items()]:
            server, _ = MCPServer.objects.update_or_create(
                name=f"inproc-{kind.replace('_', '-')}",
                defaults={
                    "transport": kind,
                    "command": PYTHON if kind == "stdio" else "",
                    "args": ["-m", "mcp_servers.demo"] if kind == "stdio" else [],
                    "cwd": str(ROOT) if kind == "stdio" else "",
                    "url": url,
                },
            )
            ids[kind] = server.pk
        return ids

    return await sync_to_async(create)()


def inproc_setup(bench: Bench, counts: Counts) -> tuple[Any, dict[str, Any]]:
    """This process's own Django, on its own SQLite file, for the in-process measurements."""
    os.environ.update(bench.env("inproc"))
    import django

    django.setup()
    from django.core.management import call_command

    from bench.fixtures import bench_data_create
    from bench.measure import QueryCounter

    call_command("migrate", verbosity=0, interactive=False)
    data = bench_data_create(
        {"python": PYTHON, "root": str(ROOT), "users": 1, "threads": {"plain": 5, "tool:stdio": 5}}
    )
    counter = QueryCounter()
    return counter, {
        "cookie": data["cookie"],
        "session": data["sessions"][0]["session"],
        "threads": data["threads"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, to check the script works (~2 minutes)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where latest.md and the plot go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs, profile)")
    parser.add_argument("--peers-only", action="store_true", help="only part 5, Switchboard against its peers")
    options = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = Counts.for_mode(options.quick)
    started = time.monotonic()
    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    bench = Bench(counts=counts, tmp=tmp, procs=Procs(tmp))
    try:
        counter, inproc = inproc_setup(bench, counts)
        asyncio.run(run_all(bench, counter, inproc, quick=options.quick, peers_only=options.peers_only))
    except BaseException:
        print(f"Server logs are in {tmp}", file=sys.stderr)
        raise
    finally:
        bench.procs.stop_all()
    info["load_end"] = load_average()
    info["mode"] = ("quick" if options.quick else "full") + (", peers only" if options.peers_only else "")
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    info["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    from bench.report import peers_plot, plot, report

    options.output.mkdir(parents=True, exist_ok=True)
    markdown = report(info, bench.results, bench.notes, counts)
    plot_name = plot(bench.results, options.output)
    if plot_name:
        markdown += f"\n![Latency against concurrency]({plot_name})\n"
    if bench.results.get("peers"):
        markdown += f"\n![Switchboard, Open WebUI and Chainlit]({peers_plot(bench.results['peers'], options.output)})\n"
    (options.output / "latest.md").write_text(markdown)
    print(markdown)
    if options.keep:
        print(f"Kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
