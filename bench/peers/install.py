"""The peers' own virtualenvs under bench/.peers/, made once with pinned versions and skipped when present."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.procs import ROOT

PEERS_DIR = ROOT / "bench" / ".peers"
OPEN_WEBUI = "open-webui==0.12.4"
CHAINLIT = "chainlit==2.12.0"


class PeerUnavailable(Exception):
    """A peer that could not be installed or started here; the message is the command and its error."""


def project_pin(name: str) -> str:
    """The project's own pinned requirement for a package, so a peer runs the same version."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == name:
            return line.strip()
    raise LookupError(f"{name} is not pinned in requirements.txt")


def peer_steps(name: str) -> list[list[str]]:
    """What to pip-install, step by step, into a peer's virtualenv."""
    if name == "openwebui":
        # torch first, alone: the CPU build this machine serves, not the several-GB CUDA build a range would take.
        return [["torch==2.13.0"], [OPEN_WEBUI]]
    if name == "chainlit":
        return [[CHAINLIT, project_pin("openai-agents")]]
    raise ValueError(name)


def _run(args: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PeerUnavailable(f"`{' '.join(args)}` did not finish in {timeout:g} s") from exc
    if done.returncode != 0:
        error = "\n".join(line for line in done.stderr.splitlines() if "is ignored" not in line)[-1500:]
        raise PeerUnavailable(f"`{' '.join(args)}` exited with {done.returncode}: {error.strip()}")


def peer_install(name: str, *, timeout: float = 1800.0) -> Path:
    """The peer's virtualenv, installed on first use; a finished install is marked with what it holds."""
    venv = PEERS_DIR / name
    steps = peer_steps(name)
    marker = venv / ".installed"
    wanted = "\n".join(" ".join(step) for step in steps) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return venv
    print(f"   installing {name} into {venv} (once)…", flush=True)
    if not (venv / "bin" / "python").exists():
        _run([sys.executable, "-m", "venv", str(venv)], timeout)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for step in steps:
        _run([*pip, *step], timeout)
    marker.write_text(wanted)
    return venv
