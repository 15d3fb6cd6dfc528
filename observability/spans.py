"""The Agents SDK's spans as plain rows: what each kind of span says, bounded, with no contents or secrets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.tracing import Span as SdkSpan

DATA_MAX_BYTES = 4096
TEXT_MAX = 300
ERROR_MAX = 1000
LIST_MAX = 50
METADATA_KEYS = ("run_id", "thread_id", "user_id", "assistant_id", "provider", "model")
# Never stored: what the model read or wrote, what a tool was given or returned.
CONTENT_KEYS = frozenset(
    {"input", "output", "arguments", "result", "content", "instructions", "messages", "response", "text", "prompt"}
)
SECRET_WORDS = ("key", "token", "secret", "password", "authorization", "cookie", "credential", "header", "env")
REJECTED = "manually rejected"  # how the SDK words a tool call the user denied

# Trace columns filled from the trace's metadata: (column, metadata key, size).
TRACE_METADATA_COLUMNS = (
    ("thread_id", "thread_id", 64),
    ("user_id", "user_id", 64),
    ("assistant_id", "assistant_id", 64),
    ("provider", "provider", 200),
    ("model", "model", 200),
)

KIND_OF_TYPE = {
    "agent": "agent",
    "response": "model",
    "generation": "model",
    "function": "tool",
    "mcp_tools": "mcp_tools",
    "handoff": "handoff",
    "guardrail": "guardrail",
}


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _clean(value: Any, depth: int = 0) -> Any:
    """A bounded, JSON-safe copy without contents or anything that looks like a secret."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= TEXT_MAX else value[:TEXT_MAX] + "…"
    if depth >= 3:
        return None
    if isinstance(value, dict):
        return {
            str(key): _clean(item, depth + 1)
            for key, item in list(value.items())[:LIST_MAX]
            if str(key) not in CONTENT_KEYS and not _secret_key(str(key))
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, depth + 1) for item in list(value)[:LIST_MAX]]
    return _clean(str(value), depth)


def _bounded(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the largest entries until the object fits DATA_MAX_BYTES."""
    data = _clean(data) or {}
    while data and len(json.dumps(data, default=str)) > DATA_MAX_BYTES:
        largest = max(data, key=lambda key: len(json.dumps(data[key], default=str)))
        del data[largest]
        data["truncated"] = True
    return data


def _size(value: Any) -> int | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return len(text.encode())


def non_negative(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _usage(source: Any) -> tuple[int | None, int | None]:
    if source is None:
        return None, None
    if isinstance(source, dict):
        return non_negative(source.get("input_tokens")), non_negative(source.get("output_tokens"))
    return non_negative(getattr(source, "input_tokens", None)), non_negative(getattr(source, "output_tokens", None))


def _error(span: SdkSpan[Any]) -> dict[str, Any] | None:
    """The span's error: its message and a cleaned copy of its details, the error text kept but bounded."""
    error = span.error
    if not error:
        return None
    if not isinstance(error, dict):
        return {"message": str(error)[:ERROR_MAX]}
    cleaned: dict[str, Any] = {"message": str(error.get("message") or "error")[:ERROR_MAX]}
    data = error.get("data")
    if isinstance(data, dict):
        details = _clean({key: value for key, value in data.items() if key != "error"})
        if isinstance(data.get("error"), str):
            details["error"] = data["error"][:ERROR_MAX]
        cleaned["data"] = details
    return cleaned


@dataclass
class TraceState:
    """What the processor keeps about one open trace."""

    trace_id: str
    # The trace's own metadata object: a run's trace learns more about its run (user, provider) once claimed.
    raw_metadata: Any = None
    started: float = field(default_factory=time.time)
    open_models: list[str] = field(default_factory=list)
    last_model: str | None = None
    ttft_given: set[str] = field(default_factory=set)
    tool_servers: dict[str, str] = field(default_factory=dict)
    transports: dict[str, str] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    tool_failures: int = 0
    status: str = ""
    error_code: str = ""
    error: str = ""
    started_at: datetime | None = None  # as stored on the trace's row
    again: bool = False  # traced before under the same id: its row keeps the first start, and adds up totals

    @property
    def metadata(self) -> dict[str, str]:
        return _metadata(self.raw_metadata)

    @property
    def assistant(self) -> str:
        return self.metadata.get("assistant_id", "")

    @property
    def provider(self) -> str:
        return self.metadata.get("provider", "")


def _metadata(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {key: str(raw[key])[:TEXT_MAX] for key in METADATA_KEYS if raw.get(key) not in (None, "")}


def span_row(span: SdkSpan[Any], state: TraceState | None) -> dict[str, Any]:
    """The Span row's fields for an ended SDK span; `state` resolves what the span itself does not say."""
    data = span.span_data
    sdk_type = str(getattr(data, "type", "") or "unknown")
    started, ended = _when(span.started_at), _when(span.ended_at)
    row: dict[str, Any] = {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id or "",
        "kind": KIND_OF_TYPE.get(sdk_type, "custom"),
        "sdk_type": sdk_type[:40],
        "name": str(getattr(data, "name", "") or sdk_type)[:200],
        "started_at": started,
        "ended_at": ended,
        "duration_ms": round((ended - started).total_seconds() * 1000, 3) if started and ended else None,
        "error": _error(span),
        "data": {},
    }
    extract = EXTRACTORS.get(sdk_type, _extract_other)
    extract(row, data, state)
    if row["error"] is not None and not row.get("outcome"):
        row["outcome"] = "error"
    row["data"] = _bounded(row["data"])
    return row


def _extract_agent(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["data"] = {"tools": data.tools, "handoffs": data.handoffs, "output_type": data.output_type}


def _extract_generation(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["model"] = str(data.model or (state.metadata.get("model", "") if state else ""))[:200]
    row["tokens_in"], row["tokens_out"] = _usage(data.usage)
    row["name"] = f"model {row['model']}".strip()
    row["data"] = {"model_config": data.model_config}


def _extract_response(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    response = data.response
    model = getattr(response, "model", None) or (state.metadata.get("model", "") if state else "")
    row["model"] = str(model)[:200]
    tokens_in, tokens_out = _usage(data.usage)
    if tokens_in is None and tokens_out is None:
        tokens_in, tokens_out = _usage(getattr(response, "usage", None))
    row["tokens_in"], row["tokens_out"] = tokens_in, tokens_out
    row["name"] = f"model {row['model']}".strip()
    row["data"] = {"response_id": getattr(response, "id", None) or getattr(data, "_response_id", None)}


def _extract_function(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    tool = str(data.name or "")
    mcp = data.mcp_data if isinstance(data.mcp_data, dict) else None
    server = str((mcp or {}).get("server") or (state.tool_servers.get(tool, "") if state else ""))
    row.update(
        tool=tool[:200],
        server=server[:200],
        transport=(state.transports.get(server, "") if state else "")[:40],
        argument_bytes=_size(data.input),
        result_bytes=_size(data.output),
    )
    error = row["error"]
    if error is not None:
        denied = REJECTED in str((error.get("data") or {}).get("error", ""))
        row["outcome"] = "denied" if denied else "error"
    elif mcp is None and state is not None and tool in state.tool_servers:
        # An MCP tool that ran always names its server on the span: this one stopped to wait for approval.
        row["outcome"] = "pending"
    else:
        row["outcome"] = "ok"
    row["data"] = {"mcp": mcp is not None}


def _extract_mcp_tools(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["server"] = str(data.server or "")[:200]
    row["name"] = f"list tools {row['server']}".strip()
    tools = list(data.result or [])
    row["data"] = {"tools": tools, "count": len(tools)}


def _extract_handoff(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["name"] = f"handoff {data.from_agent or '?'} → {data.to_agent or '?'}"
    row["data"] = {"from_agent": data.from_agent, "to_agent": data.to_agent}


def _extract_guardrail(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    row["data"] = {"triggered": bool(data.triggered)}
    if data.triggered:
        row["outcome"] = "error"


def _extract_custom(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    payload = data.data if isinstance(data.data, dict) else {}
    row["data"] = dict(payload)
    name = row["name"]
    if name == "mcp.connect":
        row["server"] = str(payload.get("server") or "")[:200]
        row["transport"] = str(payload.get("transport") or "")[:40]
    elif name == "model.first_token":
        ttft = payload.get("ttft_ms")
        row["ttft_ms"] = float(ttft) if non_negative(ttft) is not None else None
    elif name == "run.end" and payload.get("status") in ("failed", "expired"):
        row["outcome"] = "error"


def _extract_sdk_custom(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    """The SDK's task and turn spans: a run of the runner, and one turn of the agent loop."""
    exported = data.export().get("data") or {}
    row["name"] = f"turn {exported.get('turn', '')}".strip() if row["sdk_type"] == "turn" else "task"
    row["data"] = {key: value for key, value in exported.items() if key != "sdk_span_type"}


def _extract_other(row: dict[str, Any], data: Any, state: TraceState | None) -> None:
    try:
        exported = data.export()
    except Exception:  # noqa: BLE001 - a span type we do not know may export anything, or fail to
        exported = {}
    row["data"] = {key: value for key, value in (exported or {}).items() if key != "type"}


EXTRACTORS: dict[str, Callable[[dict[str, Any], Any, TraceState | None], None]] = {
    "agent": _extract_agent,
    "generation": _extract_generation,
    "response": _extract_response,
    "function": _extract_function,
    "mcp_tools": _extract_mcp_tools,
    "handoff": _extract_handoff,
    "guardrail": _extract_guardrail,
    "custom": _extract_custom,
    "task": _extract_sdk_custom,
    "turn": _extract_sdk_custom,
}
