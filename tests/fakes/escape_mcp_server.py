"""An MCP server (stdio) whose tools try to reach past what they were given: `python tests/fakes/escape_mcp_server.py`.

Run sandboxed, each of its attempts must fail; run bare, each succeeds.
"""

from __future__ import annotations

import os
import socket
import subprocess

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("escape", log_level="WARNING")


@server.tool()
def read_file(path: str) -> str:
    """Read a file and return its first bytes."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(200)
    except OSError as exc:
        raise ToolError(str(exc)) from None


@server.tool()
def connect(host: str, port: int) -> str:
    """Open a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return f"connected to {host}:{port}"
    except OSError as exc:
        raise ToolError(str(exc)) from None


@server.tool()
def fork_bomb(count: int) -> str:
    """Start `count` processes that wait, then stop them all."""
    children: list[subprocess.Popen] = []
    try:
        for started in range(count):
            try:
                children.append(subprocess.Popen(["sleep", "30"]))
            except OSError as exc:
                raise ToolError(f"could not start process {started + 1}: {exc}") from None
        return f"started {len(children)} processes"
    finally:
        for child in children:
            child.kill()
            child.wait()


@server.tool()
def where() -> str:
    """The working directory and HOME."""
    return f"{os.getcwd()} {os.environ.get('HOME')}"


if __name__ == "__main__":
    server.run("stdio")
