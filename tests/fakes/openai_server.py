"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI API for the openai client and the Agents SDK.

It serves `POST /v1/chat/completions` and `POST /v1/responses`, streamed (SSE) and not, plus `GET /v1/models`
and `POST /v1/moderations` (which flags the words in `moderation_flags`).
Each request takes the next scripted step; when the script is used up it takes the fallback step, which is
`auto()` unless a test sets another with `always()`:

    with FakeOpenAIServer() as fake:
        fake.script(rate_limited(), text("Hello there."))
        ...  # point a provider at fake.base_url with any api key
        assert fake.requests[1].body["model"] == "gpt-test"

`auto()` behaves like a tiny model: after a tool result it answers with that result; for a user message
`/<tool> {json}` naming a tool the request offers it calls that tool; otherwise it greets and quotes the user.
Every request is recorded (method, path, headers, JSON body, and the usage the fake reported for it).

Streams use chunked transfer encoding, so a `cut()` (closing the connection before the last chunk) is a broken
response for the client, exactly as with a real provider that drops the connection mid-answer.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MODERATIONS_PATH = "/v1/moderations"
MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent", "self-harm",
    "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip

_COMMAND = re.compile(r"^/([A-Za-z0-9_.\-]+)\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Step:
    """What the fake does for one request. Build steps with the functions below."""

    kind: str  # auto | text | tool_call | error | stall | cut
    text: str | None = None
    name: str = ""
    arguments: str = "{}"
    call_id: str | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    after_deltas: int | None = None
    usage: Usage | None = None


def auto(*, usage: Usage | None = None) -> Step:
    """Answer like a tiny model (see the module docstring)."""
    return Step("auto", usage=usage)


def text(value: str, *, usage: Usage | None = None) -> Step:
    """Answer with this text, streamed in word-sized deltas."""
    return Step("text", text=value, usage=usage)


def tool_call(
    name: str, arguments: dict[str, Any] | str, *, call_id: str | None = None, usage: Usage | None = None
) -> Step:
    """Call a tool; the JSON arguments are streamed in several pieces."""
    arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Step("tool_call", name=name, arguments=arguments, call_id=call_id, usage=usage)


def error(
    status: int, message: str, *, type: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Step:
    """An OpenAI-style error. In the message, `{model}` becomes the requested model, `{masked_key}` a masked key."""
    body = {"message": message, "type": type, "param": None, "code": code}
    return Step("error", status=status, error=body, headers=tuple((headers or {}).items()))


def unauthorized() -> Step:
    # Like OpenAI: the message quotes a masked form of the key, never the key itself.
    return error(
        401,
        "Incorrect API key provided: {masked_key}. You can find your API key at https://platform.openai.com.",
        type="invalid_request_error",
        code="invalid_api_key",
    )


def model_not_found() -> Step:
    return error(
        404,
        "The model `{model}` does not exist or you do not have access to it.",
        type="invalid_request_error",
        code="model_not_found",
    )


def rate_limited(retry_after: str = "0") -> Step:
    return error(
        429,
        "Rate limit reached for requests. Please try again shortly.",
        type="requests",
        code="rate_limit_exceeded",
        headers={"Retry-After": retry_after},
    )


def server_error(status: int = 500) -> Step:
    return error(status, "The server had an error while processing your request.", type="server_error")


def stall(seconds: float = 30.0, *, after_deltas: int | None = None) -> Step:
    """Read the request, then send nothing for `seconds` (after `after_deltas` streamed deltas, if given)."""
    return Step("stall", seconds=seconds, after_deltas=after_deltas)


def cut(*, after_deltas: int = 2, text: str | None = None) -> Step:
    """Stream a text answer but close the connection after `after_deltas` deltas, without finishing."""
    return Step("cut", text=text, after_deltas=after_deltas)


# --- what the client sent ------------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(part) for part in content)
    if isinstance(content, dict):
        value = content.get("text")
        return value if isinstance(value, str) else ""
    return ""


@dataclass
class _Item:
    """One conversation item, whichever API it came from."""

    kind: str  # message | call | result
    role: str = ""
    text: str = ""
    call_id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any
    usage: Usage | None = None  # the usage the fake reported in its answer, if any

    @property
    def api(self) -> str:
        return {CHAT_PATH: "chat_completions", RESPONSES_PATH: "responses"}.get(self.path, "")

    @property
    def model(self) -> str:
        return self.body.get("model", "") if isinstance(self.body, dict) else ""

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def tool_names(self) -> list[str]:
        names = []
        for tool in (self.body or {}).get("tools") or []:
            function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            names.append(function.get("name", ""))
        return names

    @property
    def items(self) -> list[_Item]:
        body = self.body if isinstance(self.body, dict) else {}
        if self.api == "chat_completions":
            return _chat_items(body.get("messages") or [])
        return _responses_items(body.get("input") or [])

    @property
    def tool_outputs(self) -> list[str]:
        """The tool results the client sent back, as text."""
        return [item.text for item in self.items if item.kind == "result"]

    @property
    def user_texts(self) -> list[str]:
        return [item.text for item in self.items if item.kind == "message" and item.role == "user"]


def _call_item(call_id: str, function: dict[str, Any]) -> _Item:
    return _Item("call", call_id=call_id, name=function.get("name", ""), arguments=function.get("arguments", ""))


def _chat_items(messages: list[dict[str, Any]]) -> list[_Item]:
    items = []
    for message in messages:
        role = message.get("role", "")
        if role == "tool":
            content = _text_of(message.get("content"))
            items.append(_Item("result", call_id=message.get("tool_call_id", ""), text=content))
            continue
        if message.get("content"):
            items.append(_Item("message", role=role, text=_text_of(message.get("content"))))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            items.append(_call_item(call.get("id", ""), function))
    return items


def _responses_items(input: Any) -> list[_Item]:
    if isinstance(input, str):
        return [_Item("message", role="user", text=input)]
    items = []
    for entry in input:
        kind = entry.get("type")
        if kind == "function_call_output":
            output = entry.get("output")
            items.append(_Item("result", call_id=entry.get("call_id", ""), text=_text_of(output)))
        elif kind == "function_call":
            items.append(_call_item(entry.get("call_id", ""), entry))
        elif "role" in entry:
            items.append(_Item("message", role=entry["role"], text=_text_of(entry.get("content"))))
    return items


# --- what the fake answers -----------------------------------------------------------------------------------------


@dataclass
class _Reply:
    text: str | None = None
    call: dict[str, str] | None = None
    usage: Usage = field(default_factory=lambda: Usage(0, 0))


def _pieces(value: str) -> list[str]:
    """Word-sized pieces, the way a model streams tokens."""
    return re.findall(r"\S+\s*|\s+", value) or [value]


def _argument_pieces(arguments: str) -> list[str]:
    """JSON arguments split into (at least two, usually three) pieces, mid-token, like real tool-call deltas."""
    if len(arguments) < 2:
        return [arguments, ""]
    size = max(1, -(-len(arguments) // 3))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def _auto(request: Request) -> tuple[str | None, dict[str, str] | None]:
    items = request.items
    last = items[-1] if items else _Item("message", role="user")
    if last.kind == "result":
        name = next((i.name for i in items if i.kind == "call" and i.call_id == last.call_id), "the tool")
        return f"The tool {name} returned {last.text}. That is the answer.", None
    command = _COMMAND.match(last.text.strip())
    if command and command.group(1) in request.tool_names:
        return None, {"name": command.group(1), "arguments": command.group(2).strip() or "{}"}
    return f"Hello from the fake provider. You said: {last.text.strip()}", None


class FakeOpenAIServer:
    """A scripted OpenAI-compatible HTTP server in a background thread; use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        # Seconds between streamed deltas, the pace of a real model; 0 sends them all at once.
        self.token_interval = 0.0
        self.requests: list[Request] = []
        self._script: deque[Step] = deque()
        self._fallback = auto()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ids = itertools.count(1)
        self._sockets: set[socket.socket] = set()
        # POST /v1/moderations flags an input that contains one of these words, in its category.
        self.moderation_flags: dict[str, str] = {"attack": "violence", "insult": "harassment"}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> FakeOpenAIServer:
        self._httpd = _HTTPServer((self.host, 0), _Handler, fake=self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes stalled handlers
        if self._httpd is None:
            return
        self._httpd.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- scripting --

    def script(self, *steps: Step) -> None:
        """Queue steps; each request takes the next one."""
        with self._lock:
            self._script.extend(steps)

    def always(self, step: Step) -> None:
        """What to do once the script is used up (by default `auto()`)."""
        with self._lock:
            self._fallback = step

    def model_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.api]

    @property
    def usage_reported(self) -> Usage:
        """The sum of the usage the fake reported in its answers."""
        with self._lock:
            usages = [r.usage for r in self.requests if r.usage is not None]
        return Usage(sum(u.input_tokens for u in usages), sum(u.output_tokens for u in usages))

    def _next_step(self) -> Step:
        with self._lock:
            return self._script.popleft() if self._script else self._fallback

    # -- serving (runs in the server's threads) --

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._sockets.add if add else self._sockets.discard)(sock)

    def _serve(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = Request(
            method=handler.command,
            path=handler.path.split("?", 1)[0],
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
        if request.method == "GET" and request.path == "/v1/models":
            return _send_json(handler, 200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        if request.method == "POST" and request.path == MODERATIONS_PATH and isinstance(body, dict):
            return _send_json(handler, 200, _moderation(body, self.moderation_flags))
        if request.method != "POST" or not request.api:
            return _send_json(handler, 404, _error_body("Not found"))
        if not isinstance(body, dict):
            return _send_json(handler, 400, _error_body("The body must be a JSON object"))
        step = self._next_step()

        if step.kind == "error":
            return self._send_error(handler, request, step)
        if step.kind == "stall" and step.after_deltas is None:
            self._stop.wait(step.seconds)
            return None  # close without a response
        reply = self._reply(request, step)
        if not request.stream:
            request.usage = reply.usage
            payload = _chat_completion(request, reply) if request.api == "chat_completions" else None
            return _send_json(handler, 200, payload or _response_object(request, reply, "completed"))
        chat = request.api == "chat_completions"
        events = _chat_events(request, reply) if chat else _responses_events(request, reply)
        limit = step.after_deltas if step.kind in ("stall", "cut") else None
        sent = _send_stream(handler, events, limit, interval=self.token_interval)
        if limit is not None and sent >= limit:
            if step.kind == "stall":
                self._stop.wait(step.seconds)
            return None  # the connection closes without the final chunk
        if request.api == "responses" or (request.body.get("stream_options") or {}).get("include_usage"):
            request.usage = reply.usage
        _end_chunks(handler)
        return None

    def _reply(self, request: Request, step: Step) -> _Reply:
        if step.kind == "tool_call":
            answer, call = None, {"name": step.name, "arguments": step.arguments}
        elif step.kind in ("text", "cut") and step.text is not None:
            answer, call = step.text, None
        else:
            answer, call = _auto(request)
        if call is not None:
            call["call_id"] = step.call_id or f"call_fake{next(self._ids):04d}"
        output_tokens = len(_pieces(answer)) if answer is not None else len(_argument_pieces(call["arguments"]))
        usage = step.usage or Usage(input_tokens=20 + 3 * len(request.items), output_tokens=output_tokens)
        return _Reply(text=answer, call=call, usage=usage)

    def _send_error(self, handler: _Handler, request: Request, step: Step) -> None:
        body = dict(step.error or {})
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        masked = f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 8 else "***"
        body["message"] = body["message"].replace("{model}", request.model).replace("{masked_key}", masked)
        _send_json(handler, step.status, {"error": body}, headers=dict(step.headers))


# --- wire formats ----------------------------------------------------------------------------------------------------


def _moderation(body: dict[str, Any], flags: dict[str, str]) -> dict[str, Any]:
    """A moderation object: one result per input text, flagged in the category of each flag word it contains."""
    inputs = body.get("input")
    texts = inputs if isinstance(inputs, list) else [inputs]
    results = []
    for text in texts:
        words = set(re.findall(r"\w+", str(text).lower()))
        hits = {category for word, category in flags.items() if word in words}
        results.append(
            {
                "flagged": bool(hits),
                "categories": {name: name in hits for name in MODERATION_CATEGORIES},
                "category_scores": {name: 0.99 if name in hits else 0.01 for name in MODERATION_CATEGORIES},
                "category_applied_input_types": {name: ["text"] for name in MODERATION_CATEGORIES},
            }
        )
    return {"id": f"modr-fake{time.monotonic_ns()}", "model": body.get("model", ""), "results": results}


def _error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def _send_json(handler: _Handler, status: int, payload: Any, *, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("x-request-id", f"req_fake_{time.monotonic_ns()}")
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()


def _send_stream(handler: _Handler, events: list[tuple[str, bool]], limit: int | None, *, interval: float = 0) -> int:
    """Send SSE events as chunks, `interval` seconds apart; stop after `limit` deltas. Return how many deltas
    were sent."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("x-request-id", f"req_fake_{time.monotonic_ns()}")
    handler.end_headers()
    deltas = 0
    for payload, is_delta in events:
        data = payload.encode()
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.flush()
        deltas += is_delta
        if limit is not None and deltas >= limit:
            break
        if is_delta and interval:
            time.sleep(interval)
    return deltas


def _end_chunks(handler: _Handler) -> None:
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()


def _sse(data: Any, event: str | None = None) -> str:
    line = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {line}\n\n"


def _chat_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _chat_completion(request: Request, reply: _Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.call is not None:
        message["tool_calls"] = [
            {
                "id": reply.call["call_id"],
                "type": "function",
                "function": {"name": reply.call["name"], "arguments": reply.call["arguments"]},
            }
        ]
    return {
        "id": f"chatcmpl-fake{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.call else "stop",
            }
        ],
        "usage": _chat_usage(reply.usage),
    }


def _chat_events(request: Request, reply: _Reply) -> list[tuple[str, bool]]:
    include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": f"chatcmpl-fake{time.monotonic_ns()}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        if include_usage:
            data["usage"] = None
        return _sse(data)

    events = []
    if reply.call is None:
        events.append((chunk({"role": "assistant", "content": "", "refusal": None}), False))
        events += [(chunk({"content": piece}), True) for piece in _pieces(reply.text or "")]
        events.append((chunk({}, "stop"), False))
    else:
        call = reply.call
        function = {"name": call["name"], "arguments": ""}
        opening = {"index": 0, "id": call["call_id"], "type": "function", "function": function}
        events.append((chunk({"role": "assistant", "content": None, "tool_calls": [opening]}), False))
        events += [
            (chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), True)
            for piece in _argument_pieces(call["arguments"])
        ]
        events.append((chunk({}, "tool_calls"), False))
    if include_usage:
        events.append((_sse({**base, "choices": [], "usage": _chat_usage(reply.usage)}), False))
    events.append((_sse("[DONE]"), False))
    return events


def _responses_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _output_items(reply: _Reply, response_id: str) -> list[dict[str, Any]]:
    if reply.call is not None:
        call = reply.call
        return [
            {
                "id": f"fc_{response_id[5:]}",
                "type": "function_call",
                "status": "completed",
                "call_id": call["call_id"],
                "name": call["name"],
                "arguments": call["arguments"],
            }
        ]
    part = {"type": "output_text", "text": reply.text or "", "annotations": [], "logprobs": []}
    return [
        {
            "id": f"msg_{response_id[5:]}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [part],
        }
    ]


def _response_object(request: Request, reply: _Reply, status: str, response_id: str | None = None) -> dict[str, Any]:
    body = request.body
    response_id = response_id or f"resp_fake{time.monotonic_ns()}"
    done = status == "completed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": request.model,
        "output": _output_items(reply, response_id) if done else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _responses_usage(reply.usage) if done else None,
        "metadata": {},
    }


def _responses_events(request: Request, reply: _Reply) -> list[tuple[str, bool]]:
    response_id = f"resp_fake{time.monotonic_ns()}"
    final = _response_object(request, reply, "completed", response_id)
    item = final["output"][0]
    seq = itertools.count()
    events: list[tuple[str, bool]] = []

    def emit(kind: str, is_delta: bool = False, **data: Any) -> None:
        events.append((_sse({"type": kind, "sequence_number": next(seq), **data}, event=kind), is_delta))

    in_progress = _response_object(request, reply, "in_progress", response_id)
    emit("response.created", response=in_progress)
    emit("response.in_progress", response=in_progress)
    if reply.call is None:
        opening = {**item, "status": "in_progress", "content": []}
        emit("response.output_item.added", output_index=0, item=opening)
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        emit("response.content_part.added", item_id=item["id"], output_index=0, content_index=0, part=empty)
        for piece in _pieces(reply.text or ""):
            emit(
                "response.output_text.delta",
                True,
                item_id=item["id"],
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        text_value = item["content"][0]["text"]
        emit(
            "response.output_text.done",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            text=text_value,
            logprobs=[],
        )
        emit("response.content_part.done", item_id=item["id"], output_index=0, content_index=0, part=item["content"][0])
    else:
        emit("response.output_item.added", output_index=0, item={**item, "status": "in_progress", "arguments": ""})
        for piece in _argument_pieces(item["arguments"]):
            emit("response.function_call_arguments.delta", True, item_id=item["id"], output_index=0, delta=piece)
        emit(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=0,
            name=item["name"],
            arguments=item["arguments"],
        )
    emit("response.output_item.done", output_index=0, item=item)
    emit("response.completed", response=final)
    return events


# --- the HTTP plumbing -------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], *, fake: FakeOpenAIServer) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer is expected in these tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # a silent client cannot hold a thread forever
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def handle_one_request(self) -> None:
        super().handle_one_request()
        self.close_connection = True  # one request per connection keeps cuts and stalls independent

    def _dispatch(self) -> None:
        try:
            self.server.fake._serve(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout) while we were answering

    do_GET = do_POST = _dispatch

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        self.send_header("Connection", "close")

    def log_message(self, format: str, *args: Any) -> None:
        pass
