"""The demo MCP server over stdio, slow to shut down: `python -m tests.fakes.slow_close_mcp_server`.

It serves the demo tools as usual, but it ignores SIGTERM and stays up after its stdin closes, so a client
closing it runs through every step of the MCP SDK's stdio shutdown (close stdin, grace period, SIGTERM,
grace period, SIGKILL) before the process is gone.
"""

from __future__ import annotations

import signal

from mcp_servers.demo import server


def main() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server.run("stdio")
    while True:
        # Only SIGKILL ends it now; an ignored SIGTERM does not even wake pause().
        signal.pause()


if __name__ == "__main__":
    main()
