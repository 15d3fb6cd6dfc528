"""A stdio MCP server that writes every message it receives to a file, one JSON line each, and whose one tool
(`slow`) never answers: `python tests/fakes/recording_mcp_server.py <log file>`."""

from __future__ import annotations

import json
import sys

LOG = sys.argv[1]
TOOL = {"name": "slow", "description": "Never answers.", "inputSchema": {"type": "object", "properties": {}}}


def reply(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(line if line.endswith("\n") else line + "\n")
    try:
        message = json.loads(line)
    except ValueError:
        continue
    method, request_id = message.get("method"), message.get("id")
    if request_id is None or method == "tools/call":
        continue  # notifications need no answer; a call of `slow` never gets one
    if method == "initialize":
        result = {
            "protocolVersion": message["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "recording", "version": "0"},
        }
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    else:
        result = {}
    reply({"jsonrpc": "2.0", "id": request_id, "result": result})
