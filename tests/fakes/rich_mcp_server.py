"""A stdio MCP server whose tools return rich results, hostile ones among them: `python tests/fakes/rich_mcp_server.py`.

Raw JSON-RPC, so a result can be anything a real server might send: script in every string, an SVG image,
a `javascript:` link, data that is not base64, structured content that breaks its tool's output schema.
"""

from __future__ import annotations

import base64
import json
import sys

SCRIPT = "<script>alert('tool')</script><img src=x onerror=alert(1)>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
EMPTY = {"type": "object", "properties": {}}
TOOLS = [
    {"name": "hostile", "description": "Returns script in every part.", "inputSchema": EMPTY},
    {"name": "images", "description": "Returns `count` PNG images of `bytes` bytes each.", "inputSchema": EMPTY},
    {
        "name": "bad_structured",
        "description": "Returns structured content that breaks its output schema.",
        "inputSchema": EMPTY,
        "outputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    },
    {"name": "sound", "description": "Returns a short WAV clip.", "inputSchema": EMPTY},
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wav() -> bytes:
    samples = bytes(800)
    header = b"RIFF" + (36 + len(samples)).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += (8000).to_bytes(4, "little") + (8000).to_bytes(4, "little") + (1).to_bytes(2, "little")
    header += (8).to_bytes(2, "little") + b"data" + len(samples).to_bytes(4, "little")
    return header + samples


def call(name: str, arguments: dict) -> dict:
    if name == "hostile":
        return {
            "content": [
                {"type": "text", "text": SCRIPT},
                {"type": "image", "data": b64(SVG), "mimeType": "image/svg+xml"},
                {"type": "image", "data": "not base64 at all!", "mimeType": "image/png"},
                {"type": "resource_link", "uri": "javascript:alert(1)", "name": SCRIPT, "description": SCRIPT},
                {"type": "resource", "resource": {"uri": "file:///etc/x", "mimeType": "text/html", "text": SCRIPT}},
            ],
            "structuredContent": {SCRIPT: SCRIPT, "rows": [{"cell": SCRIPT}]},
        }
    if name == "images":
        size = int(arguments.get("bytes", len(PNG)))
        data = b64(PNG + bytes(max(0, size - len(PNG))))
        images = [
            {"type": "image", "data": data, "mimeType": "image/png"} for _ in range(int(arguments.get("count", 1)))
        ]
        return {"content": [{"type": "text", "text": "Here they are."}, *images]}
    if name == "bad_structured":
        return {"content": [{"type": "text", "text": '{"n": "many"}'}], "structuredContent": {"n": "many"}}
    if name == "sound":
        return {"content": [{"type": "audio", "data": b64(wav()), "mimeType": "audio/wav"}]}
    return {"content": [{"type": "text", "text": f"unknown tool {name}"}], "isError": True}


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
        result = {
            "protocolVersion": message["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "rich", "version": "0"},
        }
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        result = call(message["params"]["name"], message["params"].get("arguments") or {})
    else:
        reply({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "Method not found"}})
        continue
    reply({"jsonrpc": "2.0", "id": request_id, "result": result})
