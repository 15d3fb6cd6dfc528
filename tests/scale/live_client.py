"""Talk to live Daphne servers (tests/live.py) as a browser and a program would: a logged-in session on a
real WebSocket, Bearer tokens on the API, and the database read directly."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.live import Server, Site

TERMINAL = (
    "thread.run.completed",
    "thread.run.failed",
    "thread.run.cancelled",
    "thread.run.incomplete",
    "thread.run.expired",
)


def api(server: Server, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.url}/v1/{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Browser:
    """A logged-in browser session on one live server: cookies, CSRF, the pages' forms."""

    def __init__(self, server: Server, username: str) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.get("/accounts/login/")
        self.post("/accounts/login/", {"username": username, "password": f"{username}-password-1"})
        assert self.cookie("sessionid"), f"{username} could not log in"

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def get(self, path: str) -> str:
        with self.opener.open(f"{self.server.url}{path}", timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict[str, str]) -> str:
        """Submit a form; return the URL it ended on after redirects."""
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.cookie("csrftoken")}).encode()
        with self.opener.open(f"{self.server.url}{path}", data=data, timeout=30) as response:
            return response.geturl()

    def conversation_create(self, assistant_id: str) -> str:
        """Start a conversation from the page's form; return its thread id."""
        return self.post("/conversations/", {"assistant": assistant_id}).rstrip("/").rsplit("/", 1)[1]


def demo_assistant_id(server: Server, token: str) -> str:
    status, assistants = api(server, token, "GET", "assistants")
    assert status == 200, assistants
    return next(a["id"] for a in assistants["data"] if a["name"] == "Demo assistant")


def chat_setup(server: Server, site: Site, username: str) -> tuple[str, str]:
    """Log `username` in on `server` and start a conversation with the demo assistant: (session cookie, thread id)."""
    browser = Browser(server, username)
    return browser.cookie("sessionid"), browser.conversation_create(demo_assistant_id(server, site.tokens[username]))


def run_row(site: Site, run_id: str) -> dict[str, Any]:
    """The run as stored, read straight from the site's database (no server needed)."""
    query = "SELECT status, worker, last_error_code FROM chat_run WHERE id = %s"
    url = site.env.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url) as connection:
            row = connection.execute(query, (run_id,)).fetchone()
    else:
        with closing(sqlite3.connect(site.var_dir / "db.sqlite3", timeout=20)) as connection:
            row = connection.execute(query.replace("%s", "?"), (run_id,)).fetchone()
    assert row is not None, f"no run {run_id}"
    return dict(zip(("status", "worker", "last_error_code"), row, strict=True))


@asynccontextmanager
async def chat_socket(server: Server, cookie: str, thread_id: str) -> AsyncIterator[ClientConnection]:
    url = server.url.replace("http://", "ws://") + f"/ws/conversations/{thread_id}/"
    async with connect(url, origin=server.url, additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
        yield ws


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))


async def receive(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        return json.loads(await ws.recv())


async def collect_until(ws: ClientConnection, *events: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Frames until one of `events` arrives, in order (all of them, that one last)."""
    frames = []
    while True:
        frame = await receive(ws, timeout)
        frames.append(frame)
        if frame["event"] in events:
            return frames


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid`, read from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def alive(pid: int) -> bool:
    """True unless the process is gone or only a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
