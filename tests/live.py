"""A real Switchboard for end-to-end tests: its own SQLite file with the demo set up, users with API tokens,
and a Daphne subprocess serving it on a free port. Nothing here touches pytest-django's database.

    site = site_create(tmp_path)             # migrate, setup_demo, users alice and bob with tokens
    with daphne(site) as server:             # serve it; stopped (and waited for) on exit
        ... server.url, site.tokens["alice"], server.process (the Popen, to signal it)

For scale-out tests, several Daphne processes share one PostgreSQL database and one Redis:

    with postgres_database() as database_url:            # switchboard_live_<random>, dropped on exit
        site = site_create(tmp_path, database_url=database_url, redis_url=redis_url_isolated())
        with daphne(site, name="a") as a, daphne(site, name="b") as b: ...
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
DAPHNE = str(REPO_ROOT / ".venv" / "bin" / "daphne")
START_TIMEOUT = 30.0
USERS = ("alice", "bob")

# Prints {"username": "<token>"} for each user it creates; passwords are "<username>-password-1".
USERS_AND_TOKENS = """
import json
from django.contrib.auth import get_user_model
from core.tokens import token_create
tokens = {}
for name in %r:
    user = get_user_model().objects.create_user(name, password=name + "-password-1")
    tokens[name] = token_create(user=user, name="tests")[1]
print(json.dumps(tokens))
"""


@dataclass(frozen=True)
class Site:
    var_dir: Path
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)


def site_env(var_dir: Path, *, database_url: str | None = None, redis_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    # The offline model answers at once unless a test asks for its reading pace.
    env.update(
        {"SWITCHBOARD_VAR_DIR": str(var_dir), "DEBUG": "1", "PYTHONUNBUFFERED": "1", "OFFLINE_STREAM_DELAY_MS": "0"}
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def site_create(
    var_dir: Path,
    *,
    users: tuple[str, ...] = USERS,
    database_url: str | None = None,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Site:
    """Migrate a fresh database (SQLite in `var_dir` unless `database_url`), run setup_demo, and create `users`
    with one API token each. `env` adds settings (e.g. RUN_STALE_SECONDS) for every command and server."""
    base = site_env(var_dir, database_url=database_url, redis_url=redis_url)
    site = Site(var_dir=var_dir, env={**base, **(env or {})})
    site.manage("migrate", "--noinput")
    site.manage("setup_demo")
    output = site.manage("shell", "-c", USERS_AND_TOKENS % (users,))
    tokens = json.loads(output.strip().splitlines()[-1])
    return Site(var_dir=var_dir, env=site.env, tokens=tokens)


# PostgreSQL and Redis as the CI's second pass offers them: DATABASE_URL and REDIS_URL in the environment.
def services_available() -> bool:
    return bool(os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL"))


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database beside the one in DATABASE_URL, dropped (connections and all) on exit."""
    import psycopg

    base = os.environ["DATABASE_URL"]
    prefix, _, _ = base.rpartition("/")
    name = f"switchboard_live_{secrets.token_hex(4)}"
    admin = f"{prefix}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{prefix}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url_for(base: str, db: int) -> str:
    """The same Redis server as `base`, on database number `db`."""
    prefix = base.rsplit("/", 1)[0] if base.count("/") > 2 else base.rstrip("/")
    return f"{prefix}/{db}"


def redis_url_isolated(db: int = 8) -> str:
    """REDIS_URL's server on another database number, flushed, so live servers never see the suite's keys.

    Each pytest-xdist worker's suite keys sit on database 0–7 (tests/conftest.py), its live servers on 8–15."""
    import redis

    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    url = redis_url_for(os.environ["REDIS_URL"], db + worker)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path, *, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with code {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health/", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling a port that is not open yet: there is no event to await
    pytest.fail(f"daphne did not answer /health/ within {timeout} s:\n{tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Spec:
    """One Daphne to start: `name` tells apart several servers' logs; `args` are extra Daphne options."""

    name: str = "daphne"
    env: dict[str, str] | None = None
    args: tuple[str, ...] = ()


def _spawn(site: Site, spec: Spec) -> Server:
    port = _free_port()
    log = site.var_dir / f"{spec.name}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(port), *spec.args, "config.asgi:application"],
            cwd=REPO_ROOT,
            env={**site.env, **(spec.env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Server(url=f"http://127.0.0.1:{port}", log=log, process=process)


@contextmanager
def daphnes(site: Site, *specs: Spec, start_timeout: float = START_TIMEOUT) -> Iterator[list[Server]]:
    """Serve the site with several Daphnes at once, started side by side, until the block ends."""
    servers: list[Server] = []
    try:
        for spec in specs:
            servers.append(_spawn(site, spec))
        with ThreadPoolExecutor(max(len(servers), 1)) as pool:
            list(pool.map(lambda s: _wait_for_health(s.url, s.process, s.log, timeout=start_timeout), servers))
        yield servers
    finally:
        for server in servers:
            _stop(server.process)


def openai_client(site: Site, server: Server, *, user: str = "alice") -> Any:
    """The official `openai` client, unchanged, on the live server's /v1/ with the user's token."""
    import openai

    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=site.tokens[user], max_retries=0, timeout=60)


@contextmanager
def daphne(
    site: Site, *, name: str = "daphne", env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Serve the site with Daphne on a free port until the block ends; `name` tells apart several servers' logs."""
    with daphnes(site, Spec(name=name, env=env, args=args)) as (server,):
        yield server
