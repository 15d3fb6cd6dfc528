"""Real MCP servers for the tests: each network server starts once per module, on a free port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from assistants.models import Assistant
from chat.models import Conversation
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool

EVERYTHING = Path(settings.BASE_DIR) / "node_modules" / ".bin" / "mcp-server-everything"
RECORDING_SERVER = Path(settings.BASE_DIR) / "tests" / "fakes" / "recording_mcp_server.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(argv: list[str], *, port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run a server process until the test module ends; yield once its port takes connections."""
    process = subprocess.Popen(
        argv,
        cwd=settings.BASE_DIR,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode} before listening")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                # Nothing to await: the process says it is ready only by listening.
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not listen on port {port} within 30 s") from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def demo_serve(transport: str) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "mcp_servers.demo", "--transport", transport, "--port", str(port)]
    path = {"streamable-http": "/mcp", "sse": "/sse", "websocket": "/"}[transport]
    scheme = "ws" if transport == "websocket" else "http"
    for _ in serve(argv, port=port):
        yield f"{scheme}://127.0.0.1:{port}{path}"


def everything_serve(transport: str) -> Iterator[str]:
    if not EVERYTHING.exists():
        pytest.fail("node_modules is missing: run `make test` (it runs `npm ci`)")
    port = free_port()
    path = {"sse": "/sse", "streamableHttp": "/mcp"}[transport]
    for _ in serve(["node", str(EVERYTHING), transport], port=port, env={"PORT": str(port)}):
        yield f"http://127.0.0.1:{port}{path}"


def everything_command() -> list[str]:
    if not EVERYTHING.exists() or not shutil.which("node"):
        pytest.fail("node_modules is missing: run `make test` (it runs `npm ci`)")
    return ["node", str(EVERYTHING), "stdio"]


def children() -> list[tuple[int, str]]:
    """(pid, command line) of this test process's live child processes, read from /proc."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # The command name may hold spaces or parentheses; the fields after its closing one are fixed.
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) != me or state == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue
        found.append((int(entry.name), cmdline))
    return found


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # The shared user fixtures hash a password each; a real hasher costs a second per test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def demo_http_url() -> Iterator[str]:
    yield from demo_serve("streamable-http")


@pytest.fixture(scope="module")
def demo_ws_url() -> Iterator[str]:
    yield from demo_serve("websocket")


@pytest.fixture(scope="module")
def everything_sse_url() -> Iterator[str]:
    yield from everything_serve("sse")


@pytest.fixture(scope="module")
def everything_http_url() -> Iterator[str]:
    yield from everything_serve("streamableHttp")


@pytest.fixture
async def pool():
    """This test's connection pool, closed at the end so no server process outlives the test."""
    pool = get_pool()
    yield pool
    await pool.close_all()


@dataclass
class Recording:
    """A conversation whose assistant's one MCP server (tests/fakes/recording_mcp_server.py) logs what it receives."""

    conversation: Conversation
    log: Path

    def received(self) -> list[dict[str, Any]]:
        """Every message the server has received so far, in order."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@pytest.fixture
def recording(alice, offline_provider, tmp_path, settings) -> Recording:
    """alice's conversation with the recording server, which runs unsandboxed: it writes its log where a sandboxed
    server may not."""
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    log = tmp_path / "received.jsonl"
    server = MCPServer.objects.create(
        name="recording",
        command=sys.executable,
        args=[str(RECORDING_SERVER), str(log)],
        cwd=str(settings.BASE_DIR),
    )
    assistant = Assistant.objects.create(name="Recorder", owner=alice, provider=offline_provider)
    assistant.mcp_servers.add(server)
    return Recording(Conversation.objects.create(owner=alice, assistant=assistant), log)
