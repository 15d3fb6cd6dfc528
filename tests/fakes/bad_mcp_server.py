"""A stdio MCP server that speaks the handshake properly, then answers `tools/call` with a malformed
JSON-RPC message: `python tests/fakes/bad_mcp_server.py [garbage|wrong-shape]`."""

from __future__ import annotations

import json
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "garbage"
TOOL = {
    "name": "broken",
    "description": "Answers with a malformed message.",
    "inputSchema": {"type": "object", "properties": {}},
}


def reply(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    method, request_id = message.get("method"), message.get("id")
    if request_id is None:
        continue  # notifications need no answer
    if method == "initialize":
        reply(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "result": {
                    "protocolVersion": message["params"].get("protocolVersion", "2025-06-18"),
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "bad", "version": "0"},
                },
            }
        )
    elif method == "tools/list":
        reply({"jsonrpc": "2.0", "id": request_id, "result": {"tools": [TOOL]}})
    elif method == "tools/call" and MODE == "garbage":
        sys.stdout.write("this is {not json-rpc at all\n")
        sys.stdout.flush()
    elif method == "tools/call":
        # Valid JSON, wrong shape: a result that is not an object, with an id of the wrong type.
        reply({"jsonrpc": "2.0", "id": request_id, "result": ["not", "a", "CallToolResult"]})
    else:
        reply({"jsonrpc": "2.0", "id": request_id, "result": {}})
