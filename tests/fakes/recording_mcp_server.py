"""A stdio MCP server that writes every message it receives to a file, one JSON line each: `python
tests/fakes/recording_mcp_server.py <log file>`. Its tool `slow` never answers; its tool `ask` asks the client a
question (`elicitation/create`) and answers with the client's answer, as JSON."""

from __future__ import annotations

import json
import sys

LOG = sys.argv[1]
NO_ARGUMENTS = {"type": "object", "properties": {}}
TOOLS = [
    {"name": "slow", "description": "Never answers.", "inputSchema": NO_ARGUMENTS},
    {"name": "ask", "description": "Asks the user for a word.", "inputSchema": NO_ARGUMENTS},
]
FORM = {"type": "object", "properties": {"word": {"type": "string", "title": "Word"}}, "required": ["word"]}


def reply(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


asked: dict[str, object] = {}  # a question's id -> the call it is about
for line in sys.stdin:
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(line if line.endswith("\n") else line + "\n")
    try:
        message = json.loads(line)
    except ValueError:
        continue
    method, request_id = message.get("method"), message.get("id")
    if method is None and request_id in asked:  # the client's answer to a question
        text = json.dumps(message.get("result") or message.get("error"), sort_keys=True)
        reply({"jsonrpc": "2.0", "id": asked.pop(request_id), "result": {"content": [{"type": "text", "text": text}]}})
        continue
    if method == "tools/call" and message["params"]["name"] == "ask":
        asked[f"q-{request_id}"] = request_id
        question = {"mode": "form", "message": "Say a word.", "requestedSchema": FORM}
        reply({"jsonrpc": "2.0", "id": f"q-{request_id}", "method": "elicitation/create", "params": question})
        continue
    if request_id is None or method == "tools/call":
        continue  # notifications need no answer; a call of `slow` never gets one
    if method == "initialize":
        result = {
            "protocolVersion": message["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "recording", "version": "0"},
        }
    elif method == "tools/list":
        result = {"tools": TOOLS}
    else:
        result = {}
    reply({"jsonrpc": "2.0", "id": request_id, "result": result})
