"""What the stdio sandbox costs: the bundled demo MCP server started and called with and without bubblewrap.

    .venv/bin/python -m bench.sandbox [--calls 200]

Each mode starts the server once through the process's connection pool (as a run would) and then makes `calls`
tool calls one after another; it prints the start-up time and the calls' p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _setup(var_dir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SWITCHBOARD_VAR_DIR"] = var_dir
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


async def _measure(*, sandbox: bool, calls: int) -> dict[str, float]:
    from django.conf import settings

    from mcp_servers.models import MCPServer
    from mcp_servers.pool import get_pool
    from mcp_servers.services import mcp_server_connect

    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": sandbox}
    server = MCPServer(
        pk=9000 + int(sandbox),
        name=f"demo-{'sandboxed' if sandbox else 'plain'}",
        command=sys.executable,
        args=["-m", "mcp_servers.demo"],
        cwd=str(REPO),
        call_timeout=30,
    )
    started = time.perf_counter()
    connection = await mcp_server_connect(server=server, user_id=1, username="bench")
    await connection.list_tools()
    start_ms = (time.perf_counter() - started) * 1000
    latencies = []
    for index in range(calls):
        began = time.perf_counter()
        await connection.call_tool("add", {"a": index, "b": 1})
        latencies.append((time.perf_counter() - began) * 1000)
    await get_pool().close_all()
    latencies.sort()
    return {
        "start_ms": start_ms,
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        _setup(var_dir)
        from mcp_servers.sandbox import bwrap_path

        if bwrap_path() is None:
            sys.exit("bubblewrap (bwrap) is not installed: `make sandbox-deps` installs it.")
        rows = {mode: asyncio.run(_measure(sandbox=mode == "sandboxed", calls=options.calls)) for mode in
                ("plain", "sandboxed")}  # fmt: skip
    print(f"{'mode':<10} {'start (ms)':>11} {'call p50 (ms)':>14} {'call p95 (ms)':>14}")
    for mode, row in rows.items():
        print(f"{mode:<10} {row['start_ms']:>11.1f} {row['p50_ms']:>14.2f} {row['p95_ms']:>14.2f}")
    plain, boxed = rows["plain"], rows["sandboxed"]
    print(f"sandbox cost: start +{boxed['start_ms'] - plain['start_ms']:.1f} ms, "
          f"call p50 {boxed['p50_ms'] - plain['p50_ms']:+.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
