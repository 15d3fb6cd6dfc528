"""A stdio MCP server that writes every message it receives to a file, one JSON line each, and whose one tool
(`ask`) asks the client a question (`elicitation/create`) and answers with the client's answer:
`python tests/fakes/eliciting_mcp_server.py <log file>`."""

from __future__ import annotations

import json
import sys

LOG = sys.argv[1]
TOOL = {"name": "ask", "description": "Asks the user.", "inputSchema": {"type": "object", "properties": {}}}
FORM = {"type": "object", "properties": {"word": {"type": "string", "title": "Word"}}, "required": ["word"]}


def send(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


calls: dict[str, object] = {}  # the question's id -> the call it is about
for line in sys.stdin:
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(line if line.endswith("\n") else line + "\n")
    try:
        message = json.loads(line)
    except ValueError:
        continue
    method, request_id = message.get("method"), message.get("id")
    if method is None and request_id in calls:  # the client's answer to a question
        answer = message.get("result") or {}
        text = json.dumps(answer, sort_keys=True)
        send({"jsonrpc": "2.0", "id": calls.pop(request_id), "result": {"content": [{"type": "text", "text": text}]}})
        continue
    if request_id is None:
        continue  # notifications need no answer
    if method == "initialize":
        result = {
            "protocolVersion": message["params"].get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "eliciting", "version": "0"},
        }
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "tools/call":
        question = f"q-{request_id}"
        calls[question] = request_id
        send({"jsonrpc": "2.0", "id": question, "method": "elicitation/create",
              "params": {"mode": "form", "message": "Say a word.", "requestedSchema": FORM}})  # fmt: skip
        continue
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "Method not found"}})
        continue
    send({"jsonrpc": "2.0", "id": request_id, "result": result})
