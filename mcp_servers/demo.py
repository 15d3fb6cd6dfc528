"""The bundled demo MCP server: `python -m mcp_servers.demo [--transport stdio|streamable-http|sse]`."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from mcp.server import MCPServer

server = MCPServer(
    "switchboard-demo",
    instructions="A few small tools to show Switchboard's tool calls.",
    log_level="WARNING",
)


@server.tool()
def draw_dot() -> str:
    """Draw a dot."""
    return "*"


@server.tool()
def draw_dash() -> str:
    """Draw a dash."""
    return "~"


@server.tool()
def add(a: float, b: float) -> float | int:
    """Add two numbers."""
    total = a + b
    return int(total) if float(total).is_integer() else total


@server.tool()
def current_time() -> str:
    """Return the current time in UTC, in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@server.tool()
async def wait(seconds: float) -> str:
    """Wait for some seconds (at most 60), then say how long it waited."""
    seconds = max(0.0, min(float(seconds), 60.0))
    await asyncio.sleep(seconds)
    return f"waited {seconds:g} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transport", choices=["stdio", "streamable-http", "sse"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()
    if options.transport == "stdio":
        server.run("stdio")
    else:
        server.run(options.transport, host=options.host, port=options.port)


if __name__ == "__main__":
    main()
