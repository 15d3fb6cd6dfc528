"""The bundled demo MCP server: `python -m mcp_servers.demo [--transport stdio|streamable-http|sse|websocket]`."""

from __future__ import annotations

import argparse
import asyncio
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Image
from pydantic import BaseModel

from mcp_servers.websocket import websocket_serve

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
def echo(message: str) -> str:
    """Echo the message back."""
    return f"Echo: {message}"


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


@server.tool()
async def count(steps: int, interval: float, ctx: Context) -> str:
    """Count up to `steps` (at most 100), one every `interval` seconds, reporting progress as it goes."""
    steps = max(0, min(int(steps), 100))
    interval = max(0.0, min(float(interval), 10.0))
    for done in range(1, steps + 1):
        await asyncio.sleep(interval)
        await ctx.report_progress(done, steps, f"{done} of {steps}")
    return f"counted to {steps}"


def _png(size: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """A square RGB PNG, drawn pixel by pixel (the demo needs no imaging library)."""
    rows = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@server.tool()
def draw_picture(size: int = 32) -> Image:
    """Draw a picture of a dot (`size` pixels square, 8 to 256) and return it as a PNG image."""
    size = max(8, min(int(size), 256))
    middle, radius = (size - 1) / 2, size / 3

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        inside = (x - middle) ** 2 + (y - middle) ** 2 <= radius**2
        return (37, 99, 235) if inside else (255, 255, 255)

    return Image(data=_png(size, pixel), format="png")


class Day(BaseModel):
    day: str
    high_c: int
    low_c: int
    sky: str


class Forecast(BaseModel):
    city: str
    days: list[Day]


@server.tool()
def forecast(city: str, days: int = 3) -> Forecast:
    """A made-up weather forecast for a city (1 to 7 days), as structured data: the same city gets the same one."""
    days = max(1, min(int(days), 7))
    seed = zlib.crc32(city.strip().lower().encode())
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    skies = ["sunny", "cloudy", "rain", "windy", "snow"]
    return Forecast(
        city=city,
        days=[
            Day(
                day=names[n],
                high_c=10 + (seed >> n) % 15,
                low_c=(seed >> n) % 10,
                sky=skies[(seed >> (2 * n)) % len(skies)],
            )
            for n in range(days)
        ],
    )


@server.resource("demo://about", name="about", title="About the demo server", mime_type="text/markdown")
def about() -> str:
    """What the demo server offers."""
    return (
        "# The demo MCP server\n\nSmall tools to show Switchboard's tool calls: dots and dashes, arithmetic, the time, "
        "waits with progress, a picture and a forecast."
    )


@server.prompt(title="Explain a topic")
def explain(topic: str, audience: str = "a newcomer") -> str:
    """Ask for a short explanation of a topic."""
    return f"Explain {topic} to {audience} in three sentences."


def bonus() -> str:
    """A tool that exists only after `reveal_bonus` was called."""
    return "bonus!"


@server.tool()
async def reveal_bonus(ctx: Context) -> str:
    """Add the `bonus` tool and tell the client that the tool list changed."""
    if not any(tool.name == "bonus" for tool in await server.list_tools()):
        server.add_tool(bonus)
    # Clients on the 2026-07-28 protocol hear of it through `subscriptions/listen`, older ones by notification.
    await ctx.notify_tools_changed()
    await ctx.request_context.session.send_tool_list_changed()
    return "The bonus tool is now available."


def description() -> str:
    """The demo server's description, naming every tool it starts with (call it outside an event loop)."""
    names = ", ".join(f"`{tool.name}`" for tool in asyncio.run(server.list_tools()))
    return f"The bundled demo MCP server: {names}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transport", choices=["stdio", "streamable-http", "sse", "websocket"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    # Ignored: lets a per-user configuration tell its processes apart (`--label={username}`).
    parser.add_argument("--label", default="")
    options = parser.parse_args()
    if options.transport == "stdio":
        server.run("stdio")
    elif options.transport == "websocket":
        asyncio.run(websocket_serve(server, host=options.host, port=options.port))
    else:
        server.run(options.transport, host=options.host, port=options.port)


if __name__ == "__main__":
    main()
