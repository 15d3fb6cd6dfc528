"""Every Prometheus metric Switchboard exports, defined once at the lowest layer so any app can count.

Several Daphne processes serve one site, so the values live in prometheus_client's multiprocess files
(`PROMETHEUS_MULTIPROC_DIR`, set from the METRICS_DIR setting before anything imports the client) and
`/metrics` adds up every process's file.

Files of processes that are gone are folded in when a process starts and on every scrape
(`metrics_directory_tidy`): their
counters and histograms are added into one `*_archive.db` file per type, so totals never go backwards
and the directory does not grow by a file set per restart; their live gauges (open sockets, queued
runs, MCP connections) are dropped, since what a dead process held is no longer held. The directory
must belong to one host's processes: process ids are what tell a living process from a dead one.

Call sites use the small `<thing>_record` functions below, never the metric objects, so label names
and values stay in one place.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# Seconds; chat turns range from a few hundred milliseconds to minutes with tools.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30)
TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LOCAL_TOOL_SERVER = "local"  # a tool that is not served by an MCP server

# --- The multiprocess directory ----------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def _file_pid(path: str) -> int | None:
    """The process id in a file name such as `counter_1234.db` or `gauge_livesum_1234.db`."""
    stem = os.path.basename(path)[: -len(".db")]
    try:
        return int(stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return None  # an archive file, or not ours


def _fold(source: str, archive: str) -> None:
    """Add every value of a dead process's file into the archive file of its type."""
    values = MmapedDict.read_all_values_from_file(source)
    target = MmapedDict(archive)
    try:
        for key, value, timestamp, _ in values:
            current, _ = target.read_value(key)
            target.write_value(key, current + value, timestamp)
    finally:
        target.close()


def metrics_directory_tidy(directory: str | os.PathLike[str] | None = None) -> int:
    """Fold the files of dead processes into the archive (counters, histograms) or drop them (gauges); return
    how many files went. Safe to run from several processes at once: they take turns on a lock file."""
    path = Path(directory or os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
    if not str(path) or not path.is_dir():
        return 0
    removed = 0
    with open(path / ".tidy.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for name in sorted(glob.glob(str(path / "*.db"))):
                pid = _file_pid(name)
                if pid is None or _pid_alive(pid):
                    continue
                kind = os.path.basename(name).split("_", 1)[0]
                try:
                    if kind in ("counter", "histogram", "summary"):
                        _fold(name, str(path / f"{kind}_archive.db"))
                    os.remove(name)
                    removed += 1
                except (OSError, ValueError):
                    logger.warning("Could not tidy the metrics file %s", os.path.basename(name), exc_info=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return removed


def metrics_exposition(directory: str | os.PathLike[str]) -> bytes:
    """Every process's metrics in `directory`, added up, in the Prometheus text format.

    The directory is tidied first, so a process that died without stopping (kill -9) no longer counts as
    holding its sockets and connections from the next scrape on.
    """
    metrics_directory_tidy(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry)


def _own_stale_gauges_drop() -> None:
    """A process that reuses a dead one's id must not start from the gauges that one left."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    for name in glob.glob(os.path.join(directory, f"gauge_live*_{os.getpid()}.db")):
        with contextlib.suppress(OSError):
            os.remove(name)


_own_stale_gauges_drop()

# --- The metrics ---------------------------------------------------------------------------------------------------

RUNS = Counter("switchboard_runs", "Runs that ended, by final status.", ["status", "assistant", "provider"])
RUN_DURATION = Histogram(
    "switchboard_run_duration_seconds", "Wall time of a run.", ["assistant", "provider"], buckets=DURATION_BUCKETS
)
FIRST_TOKEN = Histogram(
    "switchboard_time_to_first_token_seconds",
    "Time until a model call's first text arrived.",
    ["assistant", "provider"],
    buckets=FIRST_TOKEN_BUCKETS,
)
MODEL_CALLS = Counter("switchboard_model_calls", "Model calls, by outcome.", ["provider", "model", "outcome"])
MODEL_TOKENS = Counter(
    "switchboard_model_tokens",
    "Tokens used by model calls (direction: input or output).",
    ["provider", "model", "direction"],
)
TOOL_CALLS = Counter("switchboard_mcp_tool_calls", "Tool calls, by outcome.", ["server", "tool", "outcome"])
TOOL_DURATION = Histogram(
    "switchboard_mcp_tool_call_duration_seconds",
    "Duration of tool calls.",
    ["server", "tool", "outcome"],
    buckets=TOOL_BUCKETS,
)
MCP_CONNECTIONS = Gauge("switchboard_mcp_connections", "Live MCP connections.", ["server"], multiprocess_mode="livesum")
MCP_RECONNECTS = Counter("switchboard_mcp_reconnects", "MCP connections replaced after they died.", ["server"])
WEBSOCKETS = Gauge("switchboard_websockets_open", "Open chat WebSockets.", multiprocess_mode="livesum")
RUNS_QUEUED = Gauge("switchboard_runs_queued", "Runs waiting for a slot in their process.", multiprocess_mode="livesum")
RATE_LIMITED = Counter("switchboard_rate_limit_refusals", "Requests refused by a rate limit.", ["scope"])
ERRORS = Counter("switchboard_errors", "Errors reported to users, by code.", ["code"])
COST = Counter(
    "switchboard_cost", "What runs cost at their providers' prices, in the prices' currency.", ["provider", "model"]
)


def run_end_record(*, status: str, assistant: str, provider: str, seconds: float | None) -> None:
    RUNS.labels(status=status, assistant=assistant, provider=provider).inc()
    if seconds is not None:
        RUN_DURATION.labels(assistant=assistant, provider=provider).observe(seconds)


def first_token_record(*, assistant: str, provider: str, seconds: float) -> None:
    FIRST_TOKEN.labels(assistant=assistant, provider=provider).observe(seconds)


def model_call_record(*, provider: str, model: str, outcome: str, tokens_in: int, tokens_out: int) -> None:
    MODEL_CALLS.labels(provider=provider, model=model, outcome=outcome).inc()
    if tokens_in:
        MODEL_TOKENS.labels(provider=provider, model=model, direction="input").inc(tokens_in)
    if tokens_out:
        MODEL_TOKENS.labels(provider=provider, model=model, direction="output").inc(tokens_out)


def cost_record(*, provider: str, model: str, cost: float) -> None:
    if cost > 0:
        COST.labels(provider=provider, model=model).inc(cost)


def tool_call_record(*, server: str, tool: str, outcome: str, seconds: float | None) -> None:
    server = server or LOCAL_TOOL_SERVER
    TOOL_CALLS.labels(server=server, tool=tool, outcome=outcome).inc()
    if seconds is not None:
        TOOL_DURATION.labels(server=server, tool=tool, outcome=outcome).observe(seconds)


def mcp_connection_open_record(*, server: str) -> None:
    MCP_CONNECTIONS.labels(server=server).inc()


def mcp_connection_close_record(*, server: str) -> None:
    MCP_CONNECTIONS.labels(server=server).dec()


def mcp_reconnect_record(*, server: str) -> None:
    MCP_RECONNECTS.labels(server=server).inc()


def websocket_connect_record() -> None:
    WEBSOCKETS.inc()


def websocket_disconnect_record() -> None:
    WEBSOCKETS.dec()


def run_queue_record() -> None:
    RUNS_QUEUED.inc()


def run_dequeue_record() -> None:
    RUNS_QUEUED.dec()


@contextlib.contextmanager
def run_queue_track() -> Iterator[None]:
    """Count a run as queued for as long as the block runs (e.g. while it waits for a slot)."""
    run_queue_record()
    try:
        yield
    finally:
        run_dequeue_record()


def rate_limit_refusal_record(*, scope: str) -> None:
    RATE_LIMITED.labels(scope=scope).inc()


def error_record(*, code: str) -> None:
    ERRORS.labels(code=code or "unknown").inc()
