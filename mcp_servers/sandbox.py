"""Stdio MCP servers run in a bubblewrap (`bwrap`) sandbox: a tool cannot reach past what it was given.

Inside, a server sees the system's programs and libraries (read-only), its own program (its interpreter or
virtualenv, its node_modules, the files and package its arguments name, and any `read_paths` an admin listed),
and a writable working directory of its own (one per user for per-user servers). Nothing else of the host: not
the project's settings, its database or its secrets. No network unless its configuration allows it. CPU time,
memory and process count are capped, and it runs as a user id of its own, so a fork bomb hits its own limit.

Secrets (the server's env) travel in the process environment, never on a command line another user could read.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from mcp_servers.errors import MCPConnectError

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/opt")
# What programs commonly read in /etc: name resolution, certificates, locale, users and the dynamic linker.
SYSTEM_FILES = (
    "/etc/alternatives", "/etc/ca-certificates", "/etc/ssl", "/etc/pki", "/etc/resolv.conf", "/etc/hosts",
    "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/localtime", "/etc/passwd", "/etc/group",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/mime.types", "/etc/os-release",
)  # fmt: skip
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# The sandbox's own /tmp: an empty tmpfs that lives and dies with it, shared with nothing on the host.
SANDBOX_TMP = "/tmp"  # noqa: S108
# Sandboxed servers get user ids from here on when Switchboard runs as root (one per server and user).
UID_BASE = 200_000
UID_SPAN = 60_000


class SandboxUnavailable(MCPConnectError):
    """The sandbox is on but cannot be set up (bubblewrap is missing)."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def bwrap_missing_message() -> str:
    return (
        "Stdio MCP servers run in a bubblewrap sandbox, but `bwrap` is not installed: install it "
        "(apt-get install bubblewrap) or, for development only, set MCP_SANDBOX=0."
    )


def sandbox_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A system check (run by migrate, check and runserver): the sandbox is on but bubblewrap is missing."""
    from django.core.checks import Error

    if settings.SWITCHBOARD["MCP_SANDBOX"] and bwrap_path() is None:
        return [Error(bwrap_missing_message(), id="mcp_servers.E001")]
    return []


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    processes: int
    cpu_seconds: int

    @classmethod
    def from_settings(cls) -> Limits:
        config = settings.SWITCHBOARD
        return cls(
            memory_mb=config["MCP_SANDBOX_MEMORY_MB"],
            processes=config["MCP_SANDBOX_PROCESSES"],
            cpu_seconds=config["MCP_SANDBOX_CPU_SECONDS"],
        )


def _resolve(command: str, cwd: str | None) -> Path | None:
    if os.sep in command:
        path = Path(command) if os.path.isabs(command) else Path(cwd or ".") / command
        return path if path.exists() else None
    found = shutil.which(command)
    return Path(found) if found else None


def _program_paths(path: Path) -> list[Path]:
    """What running this program needs beyond the system: its virtualenv, interpreter prefix or node_modules."""
    needed: list[Path] = []
    for candidate in (path, path.resolve()):
        for parent in candidate.parents:
            if parent.name == "node_modules":
                needed.append(parent)
                break
            if (parent / "pyvenv.cfg").exists():
                needed.append(parent)
                break
    real = path.resolve()
    # An interpreter outside the system directories (pyenv, a venv's base): its whole prefix.
    if not str(real).startswith(SYSTEM_DIRS) and real.parent.name == "bin":
        needed.append(real.parent.parent)
    if not needed:
        needed.append(real)
    return needed


def _argument_paths(args: list[str], cwd: str | None, *, python: bool) -> list[Path]:
    """Files the arguments name (a script), and the package `-m` runs, read-only."""
    paths: list[Path] = []
    for index, arg in enumerate(args):
        if python and arg == "-m" and index + 1 < len(args) and cwd:
            package = Path(cwd) / args[index + 1].split(".")[0]
            if package.exists():
                paths.append(package)
            continue
        if arg.startswith("-") or not (os.sep in arg or arg.endswith((".py", ".js", ".mjs"))):
            continue
        path = Path(arg) if os.path.isabs(arg) else Path(cwd or ".") / arg
        if path.is_file():
            paths.extend(_program_paths(path) if "node_modules" in path.parts else [path])
    return paths


def sandbox_uid(*, server_id: int | None, user_id: int | None) -> int:
    return UID_BASE + ((server_id or 0) * 7919 + (user_id or 0)) % UID_SPAN


def sandbox_workdir(*, name: str, user_id: int | None) -> Path:
    base = Path(settings.SWITCHBOARD["MCP_SANDBOX_DIR"])
    return base / name / f"user-{user_id}" if user_id is not None else base / name


def sandbox_launch(
    *,
    command: str,
    args: list[str],
    cwd: str | None,
    env: dict[str, str],
    name: str,
    server_id: int | None,
    user_id: int | None,
    network: bool,
    read_paths: list[str],
) -> dict[str, Any]:
    """The stdio launch (command, args, env, cwd) that runs this server inside the sandbox."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(bwrap_missing_message())
    program = _resolve(command, cwd)
    if program is None:
        raise FileNotFoundError(2, "No such file or directory", command)
    limits = Limits.from_settings()
    as_root = os.geteuid() == 0
    uid = sandbox_uid(server_id=server_id, user_id=user_id) if as_root else os.geteuid()
    workdir = sandbox_workdir(name=name, user_id=user_id)
    workdir.mkdir(parents=True, exist_ok=True)
    if as_root:
        os.chown(workdir, uid, uid)
    python = program.name.startswith("python") or program.resolve().name.startswith("python")
    readable = [*_program_paths(program), *_argument_paths(args, cwd, python=python)]
    if python and Path(command).resolve() == Path(sys.executable).resolve() and cwd:
        # Switchboard's own interpreter runs its bundled servers, which import the mcp_servers package.
        readable.append(Path(settings.BASE_DIR) / "mcp_servers")
    readable += [Path(p) for p in [*settings.SWITCHBOARD["MCP_SANDBOX_READ_PATHS"], *read_paths] if p]

    argv = ["--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-uts"]
    argv += ["--unshare-cgroup-try"]
    if not network:
        argv.append("--unshare-net")
    if not as_root:
        # Unprivileged: a user namespace of its own (root needs none: it switches to the sandbox's user id).
        argv.append("--unshare-user")
    for directory in SYSTEM_DIRS:
        if os.path.islink(directory):
            argv += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            argv += ["--ro-bind", directory, directory]
    argv += ["--perms", "0755", "--dir", "/etc"]
    for path in SYSTEM_FILES:
        argv += ["--ro-bind-try", path, path]
    seen: set[str] = set()
    made: set[str] = set()

    def parents(path: Path) -> list[str]:
        # bwrap makes a bound path's missing parents 0700 when run as root: the sandbox's user could not get
        # through them, so they are made first, open to read and traverse (they hold nothing but the binds).
        made_now = []
        for parent in reversed(path.parents):
            text = str(parent)
            if text != "/" and text not in made and not text.startswith(SYSTEM_DIRS):
                made.add(text)
                made_now += ["--perms", "0755", "--dir", text]
        return made_now

    for path in readable:
        text = str(path.absolute())
        if text not in seen and not text.startswith(SYSTEM_DIRS) and os.path.exists(text):
            seen.add(text)
            argv += [*parents(path.absolute()), "--ro-bind", text, text]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", SANDBOX_TMP]
    argv += [*parents(workdir.absolute()), "--bind", str(workdir), str(workdir)]
    inside = cwd if cwd and any(p == cwd or p.startswith(cwd.rstrip("/") + "/") for p in seen) else str(workdir)
    argv += ["--chdir", inside]
    if as_root:
        # Only to switch to the sandbox's own user; setpriv then drops every capability for good.
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    argv.append("--")
    if as_root:
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
        argv += ["--bounding-set=-all", "--"]
    # Applied inside the sandbox, to the server alone: a process count of its own user id, memory it writes to
    # (not address space, which runtimes such as V8 reserve by the gigabyte), and CPU seconds.
    argv += ["prlimit", f"--nproc={limits.processes}", f"--data={limits.memory_mb * 1024 * 1024}"]
    argv += [f"--cpu={limits.cpu_seconds}", "--", str(program.absolute()), *args]
    return {
        "command": bwrap,
        "args": argv,
        "cwd": None,
        "env": {**env, "HOME": str(workdir), "TMPDIR": SANDBOX_TMP, "PATH": env.get("PATH", SANDBOX_PATH)},
    }
