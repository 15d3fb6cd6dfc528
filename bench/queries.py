"""What one chat turn costs in this process: its statements, the time spent in the database and the turn's time.

    .venv/bin/python -m bench.queries [--turns 60] [--tool] [--where]

The same measurement as `make bench`'s "queries per turn", on its own and in a few seconds: the real ASGI app
in this process, one WebSocket per conversation, the offline model, a fresh SQLite file. It prints the median
turn in milliseconds and every statement a turn runs, most frequent first, so a change's cost shows at once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from bench.procs import Procs
from bench.run import CONTENT, TOOL_CONTENT, Bench, Counts, inproc_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--tool", action="store_true", help="turns that call the demo server's add over stdio")
    parser.add_argument("--where", action="store_true", help="show the project's frames under each statement")
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-queries-"))
    bench = Bench(counts=Counts.for_mode(True), tmp=tmp, procs=Procs(tmp))
    counter, inproc = inproc_setup(bench, bench.counts)
    counter.where = options.where
    from bench.measure import queries_per_turn

    result = asyncio.run(
        queries_per_turn(
            counter,
            cookie=inproc["cookie"],
            session=inproc["session"],
            threads=inproc["threads"]["tool:stdio" if options.tool else "plain"],
            content=TOOL_CONTENT if options.tool else CONTENT,
            turns=options.turns,
        )
    )
    print(f"turns: {result['turns']}, median turn {statistics.median(result['elapsed']) * 1000:.1f} ms")
    print(f"per turn: {result['per_turn']:.1f} statements, {result['db_ms_per_turn']:.2f} ms in the database")
    for statement, count in result["statements"].items():
        print(f"{count:6.2f}  {statement}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
