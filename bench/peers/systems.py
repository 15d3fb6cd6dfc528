"""The three systems side by side, each started on 127.0.0.1 and talked to through its own chat interface.

A `System` starts its server, opens sessions and stops; a `Session` sends one chat turn at a time and times it as
`bench.client.Turn` (first streamed token, turn completed). Every system answers from the same fake model and
calls the same demo MCP server over streamable HTTP.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from bench.client import TURN_TIMEOUT, Turn, turn, ws_open
from bench.peers.install import CHAINLIT, OPEN_WEBUI, PeerUnavailable, peer_install
from bench.procs import PYTHON, ROOT, Procs, free_port, port_wait

APP = ROOT / "bench" / "peers" / "chainlit_app.py"
APPLICATION = "config.asgi:application"
API_KEY = "sk-bench-not-a-real-key"
START_TIMEOUT = 180.0
CONNECT_TIMEOUT = 30.0
# Sent by every system's client: a plain turn, and the turn the fake model answers by calling `add`.
CONTENT = "Hello there, how are you today?"
ADD_ARGUMENTS = '{"a": 1, "b": 2}'


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants (a server's workers and helpers count too)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class Session:
    async def turn(self, content: str) -> Turn:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class SocketIOSession(Session):
    """A Socket.IO client (the peers' web pages speak it) queueing the named events with their arrival time."""

    def __init__(self, base: str, events: tuple[str, ...]) -> None:
        self.base = base
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[float, str, Any]] = asyncio.Queue()
        for name in events:
            self.sio.on(name, self._handler(name))

    def _handler(self, name: str) -> Any:
        async def handle(data: Any = None) -> None:
            self.events.put_nowait((time.perf_counter(), name, data))

        return handle

    async def connect(self, auth: dict[str, str]) -> None:
        await self.sio.connect(
            self.base, socketio_path="/ws/socket.io", transports=["websocket"], auth=auth, wait_timeout=CONNECT_TIMEOUT
        )

    async def close(self) -> None:
        await self.sio.disconnect()


class System:
    """One system under test. `start` returns the seconds from the start command to the first answered turn."""

    name = ""
    version = ""
    log = ""  # the server's log, under the bench's temporary directory, without `.log`
    tool_content = f"/add {ADD_ARGUMENTS}"

    def __init__(self, *, procs: Procs, tmp: Path, fake_url: str, mcp_url: str) -> None:
        self.procs, self.tmp, self.fake_url, self.mcp_url = procs, tmp, fake_url, mcp_url
        self.proc: subprocess.Popen | None = None

    def install(self) -> None:
        """Install what the system needs (idempotent); raise PeerUnavailable with the failing command."""

    async def prepare(self) -> None:
        """Everything before the measured start: data, accounts, settings."""

    async def start(self) -> float:
        raise NotImplementedError

    async def session(self, kind: str, index: int) -> Session:
        """A session of `kind`: plain (no tools), tool (the demo MCP server) or load (one per simulated user)."""
        raise NotImplementedError

    async def first_answer(self, started: float) -> float:
        """Poll with a plain turn until one is answered; the seconds since `started`."""
        deadline = started + START_TIMEOUT
        last = ""
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PeerUnavailable(f"{self.name} exited with {self.proc.returncode} before answering")
            try:
                session = await self.session("plain", 0)
                try:
                    result = await session.turn(CONTENT)
                finally:
                    await session.close()
                if not result.error and result.completed is not None:
                    return time.perf_counter() - started
                last = result.error
            except Exception as exc:  # noqa: BLE001 - not up yet; the last error is reported on time-out
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.05)
        raise PeerUnavailable(f"{self.name} answered no turn within {START_TIMEOUT:g} s: {last[:300]}")

    async def close(self) -> None:
        """Release what the client side holds (after `stop`)."""

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None


# --- Switchboard ------------------------------------------------------------------------------------------------------


class SwitchboardSession(Session):
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def turn(self, content: str) -> Turn:
        try:
            return await turn(self.ws, content)
        except Exception as exc:  # noqa: BLE001 - a broken socket is a failed turn
            return Turn(error=f"{type(exc).__name__}")

    async def close(self) -> None:
        await self.ws.close()


class Switchboard(System):
    """Daphne with Switchboard's ASGI app on its own SQLite file, every user with their own conversation."""

    name = "Switchboard"
    log = "peers-switchboard"

    def __init__(self, *, bench: Any, users: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bench, self.users = bench, users
        self.data: dict[str, Any] = {}
        self.port = 0

    async def prepare(self) -> None:
        from importlib.metadata import version

        self.version = f"commit {self.bench_commit()} (Django {version('Django')})"
        self.env = self.bench.env("peers-switchboard")
        spec = {
            "users": self.users,
            "users_assistant": "fake:chat_completions",
            "mcp": {"streamable_http": self.mcp_url},
            "fake_url": self.fake_url,
            "threads": {"fake:chat_completions": 20, "peer:tool": 4},
        }
        self.data = await asyncio.to_thread(self.bench.prepare, self.env, spec)

    @staticmethod
    def bench_commit() -> str:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() or "?"

    async def start(self) -> float:
        self.port = free_port()
        started = time.perf_counter()
        self.proc = self.procs.start(
            self.log,
            [PYTHON, "-m", "bench.serve", "-b", "127.0.0.1", "-p", str(self.port), "-v", "0", APPLICATION],
            env=self.env,
        )
        await asyncio.to_thread(port_wait, self.port, proc=self.proc, timeout=START_TIMEOUT)
        return await self.first_answer(started)

    async def session(self, kind: str, index: int) -> Session:
        cookie, users = self.data["cookie"], self.data["sessions"]
        if kind == "load":
            entry = users[index]
            thread, key = entry["thread"], entry["session"]
        else:
            threads = self.data["threads"]["fake:chat_completions" if kind == "plain" else "peer:tool"]
            thread, key = threads[index % len(threads)], users[0]["session"]
        url = f"ws://127.0.0.1:{self.port}/ws/conversations/{thread}/"
        return SwitchboardSession(await ws_open(url, cookie=cookie, session=key))


# --- Open WebUI -------------------------------------------------------------------------------------------------------


def openwebui_chat(http: aiohttp.ClientSession, base: str, token: str, body: dict[str, Any]) -> Any:
    """Open WebUI's chat endpoint, the one its web page and its API users call."""
    return http.post(f"{base}/api/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"})


class OpenWebUIPlain(Session):
    """Its OpenAI-compatible chat API with a bearer token, streamed as SSE (nothing kept between turns)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    async def turn(self, content: str) -> Turn:
        result = Turn()
        body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": content}]}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(TURN_TIMEOUT):
                async with openwebui_chat(self.http, self.base, self.token, body) as reply:
                    if reply.status != 200:
                        return Turn(error=f"http {reply.status}")
                    async for line in reply.content:
                        if result.first_delta is None and line.startswith(b"data: {") and b'"content": "' in line:
                            if b'"content": ""' not in line:
                                result.first_delta = time.perf_counter() - started
                        elif line.startswith(b"data: [DONE]"):
                            result.completed = time.perf_counter() - started
                        elif line.startswith(b'data: {"error"'):
                            result.error = "stream error"
        except Exception as exc:  # noqa: BLE001 - a refused or cut request is a failed turn
            return Turn(error=f"{type(exc).__name__}")
        if result.completed is None and not result.error:
            result.error = "no [DONE]"
        return result


class OpenWebUITool(SocketIOSession):
    """What its own web page does for a turn with tools: a Socket.IO session, then a chat request naming it.

    The answer, tool calls included, comes back as Socket.IO `events` for the chat the request created.
    """

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        super().__init__(base, ("events",))
        self.http, self.token = http, token

    async def open(self) -> OpenWebUITool:
        await self.connect({"token": self.token})
        return self

    async def turn(self, content: str) -> Turn:
        result = Turn()
        now = int(time.time())
        user_message = {"id": str(uuid.uuid4()), "role": "user", "content": content, "parentId": None}
        body = {
            "model": "fake-model",
            "stream": True,
            "messages": [{"role": "user", "content": content}],
            "tool_ids": ["server:mcp:demo"],
            "session_id": self.sio.get_sid(),
            "id": str(uuid.uuid4()),
            "parent_id": None,
            "user_message": {**user_message, "childrenIds": [], "timestamp": now},
        }
        started = time.perf_counter()
        try:
            async with asyncio.timeout(TURN_TIMEOUT):
                async with openwebui_chat(self.http, self.base, self.token, body) as reply:
                    if reply.status != 200:
                        return Turn(error=f"http {reply.status}")
                    chat_id = (await reply.json())["chat_id"]
                while True:
                    at, _, event = await self.events.get()
                    if event.get("chat_id") != chat_id:
                        continue
                    data = event.get("data") or {}
                    inner = data.get("data") or {}
                    if result.first_delta is None and inner.get("type") == "response.output_text.delta":
                        result.first_delta = at - started
                    if data.get("type") == "chat:message:error" or "error" in inner:
                        result.error = "chat error"
                        return result
                    if data.get("type") == "chat:completion" and inner.get("done"):
                        result.completed = at - started
                        return result
        except Exception as exc:  # noqa: BLE001
            return Turn(error=f"{type(exc).__name__}")


class OpenWebUI(System):
    """`open-webui serve` from its own virtualenv, offline, with the fake model as its only model.

    Every session uses the one admin's token: signing up hundreds of users would only time password hashing.
    """

    name = "Open WebUI"
    log = "peers-openwebui"
    version = OPEN_WEBUI
    tool_content = f"/demo_add {ADD_ARGUMENTS}"  # it names a server's tools `<server id>_<tool>`

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http: aiohttp.ClientSession | None = None
        self.token = ""

    def install(self) -> None:
        self.venv = peer_install("openwebui")

    def env(self) -> dict[str, str]:
        data = self.tmp / "openwebui"
        data.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "OPENAI_"))}
        env.update(
            DATA_DIR=str(data),
            # No downloads and no telemetry.
            OFFLINE_MODE="true",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            ANONYMIZED_TELEMETRY="false",
            DO_NOT_TRACK="true",
            SCARF_NO_ANALYTICS="true",
            # The fake model is its only model.
            ENABLE_OLLAMA_API="false",
            ENABLE_OPENAI_API="true",
            OPENAI_API_BASE_URL=self.fake_url,
            OPENAI_API_KEY=API_KEY,
            # No embedding model: retrieval is not part of a chat turn here.
            RAG_EMBEDDING_ENGINE="openai",
            BYPASS_EMBEDDING_AND_RETRIEVAL="true",
            ENABLE_WEB_SEARCH="false",
            # The extra model calls it makes after a chat's first answer, off: each would ask the model again.
            ENABLE_TITLE_GENERATION="false",
            ENABLE_TAGS_GENERATION="false",
            ENABLE_FOLLOW_UP_GENERATION="false",
            ENABLE_AUTOCOMPLETE_GENERATION="false",
            WEBUI_AUTH="true",
            ENABLE_SIGNUP="true",
            WEBUI_SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
            GLOBAL_LOG_LEVEL="WARNING",
        )
        return env

    async def _launch(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = self.procs.start(
            self.log,
            [str(self.venv / "bin" / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(),
            cwd=self.tmp / "openwebui",
        )

    async def _healthy(self) -> None:
        deadline = time.perf_counter() + START_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.tmp / f"{self.log}.log").read_text(errors="replace")[-1500:]
                raise PeerUnavailable(f"`open-webui serve` exited with {self.proc.returncode}: {log}")
            try:
                async with self.http.get(f"{self.base}/health") as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise PeerUnavailable(f"`open-webui serve` was not healthy within {START_TIMEOUT:g} s")

    async def prepare(self) -> None:
        """A first start (it creates its database), the admin's sign-up and the demo MCP server; then a stop."""
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        await self._launch()
        await self._healthy()
        account = {"name": "Bench", "email": "bench@example.com", "password": "bench-password-not-secret"}
        async with self.http.post(f"{self.base}/api/v1/auths/signup", json=account) as reply:
            if reply.status != 200:
                raise PeerUnavailable(f"Open WebUI sign-up answered {reply.status}: {(await reply.text())[:300]}")
            self.token = (await reply.json())["token"]
        demo = {
            "url": self.mcp_url,
            "path": "",
            "type": "mcp",
            "auth_type": "none",
            "key": "",
            "config": {"enable": True},
            "info": {"id": "demo", "name": "demo"},
        }
        headers = {"Authorization": f"Bearer {self.token}"}
        servers = {"TOOL_SERVER_CONNECTIONS": [demo]}
        async with self.http.post(f"{self.base}/api/v1/configs/tool_servers", json=servers, headers=headers) as reply:
            if reply.status != 200:
                raise PeerUnavailable(f"Open WebUI refused the MCP server: {reply.status} {(await reply.text())[:300]}")
        await self.stop()

    async def start(self) -> float:
        started = time.perf_counter()
        await self._launch()
        return await self.first_answer(started)

    async def session(self, kind: str, index: int) -> Session:
        if kind == "tool":
            return await OpenWebUITool(self.http, self.base, self.token).open()
        return OpenWebUIPlain(self.http, self.base, self.token)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


# --- Chainlit ---------------------------------------------------------------------------------------------------------


class ChainlitSession(SocketIOSession):
    """Chainlit's own Socket.IO protocol, as its web page speaks it: one socket is one chat session."""

    def __init__(self, base: str, profile: str) -> None:
        super().__init__(base, ("stream_token", "new_message", "task_end"))
        self.profile = profile

    async def open(self) -> ChainlitSession:
        await self.connect({"sessionId": str(uuid.uuid4()), "clientType": "webapp", "chatProfile": self.profile})
        await self.sio.emit("connection_successful")
        async with asyncio.timeout(CONNECT_TIMEOUT):
            while (await self.events.get())[1] != "task_end":  # it ends the (empty) start-up task first
                pass
        return self

    async def turn(self, content: str) -> Turn:
        result = Turn()
        message = {
            "id": str(uuid.uuid4()),
            "createdAt": datetime.now(UTC).isoformat(),
            "output": content,
            "type": "user_message",
            "name": "User",
        }
        started = time.perf_counter()
        try:
            await self.sio.emit("client_message", {"message": message, "fileReferences": None})
            async with asyncio.timeout(TURN_TIMEOUT):
                while True:
                    at, name, data = await self.events.get()
                    if name == "stream_token" and result.first_delta is None:
                        result.first_delta = at - started
                    elif name == "new_message" and isinstance(data, dict) and data.get("isError"):
                        result.error = "error message"  # what it shows when the turn raised
                    elif name == "task_end":
                        result.completed = at - started
                        return result
        except Exception as exc:  # noqa: BLE001
            return Turn(error=f"{type(exc).__name__}")


class Chainlit(System):
    """`chainlit run bench/peers/chainlit_app.py --headless` from its own virtualenv."""

    name = "Chainlit + Agents SDK"
    log = "peers-chainlit"
    version = CHAINLIT

    def install(self) -> None:
        self.venv = peer_install("chainlit")
        self.version = f"{CHAINLIT}, {peer_agents_version(self.venv)}"

    async def start(self) -> float:
        root = self.tmp / "chainlit"
        root.mkdir(exist_ok=True)
        self.port = free_port()
        port = str(self.port)
        self.base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OPENAI_"))}
        env.update(MODEL_URL=self.fake_url, MCP_URL=self.mcp_url, CHAINLIT_APP_ROOT=str(root))
        started = time.perf_counter()
        self.proc = self.procs.start(
            self.log,
            [str(self.venv / "bin" / "chainlit"), "run", str(APP), "--headless", "--host", "127.0.0.1", "--port", port],
            env=env,
            cwd=root,
        )
        await asyncio.to_thread(port_wait, self.port, proc=self.proc, timeout=START_TIMEOUT)
        return await self.first_answer(started)

    async def session(self, kind: str, index: int) -> Session:
        return await ChainlitSession(self.base, "tools" if kind == "tool" else "plain").open()


def peer_agents_version(venv: Path) -> str:
    site = next(venv.glob("lib/python*/site-packages"), None)
    found = next(site.glob("openai_agents-*.dist-info"), None) if site else None
    return f"openai-agents=={found.name.removesuffix('.dist-info').split('-')[1]}" if found else "openai-agents"
