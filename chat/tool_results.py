"""A tool call's result on its run step: the text rendering every interface reads, and the rich parts.

MCP results arrive as parts (mcp_servers/results.py). The step keeps them whole in `RunStep.content`, its
`output` is their text rendering (the Assistants v2 wire format allows a string only), and its metadata carries
them described without their bytes under `content`, as JSON, for the page's tool card: an image or an audio
clip is fetched from `step_content`, which serves it only to the conversation's owner.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.conf import settings

from mcp_servers.results import MEDIA_TYPES, part_text, sent_as_text

# A table of structured content shows at most this many rows and columns; bigger data is shown as JSON.
TABLE_ROWS_MAX = 100
TABLE_COLUMNS_MAX = 12
# A resource link's optional fields as the wire spells them, and as a part keeps them.
LINK_FIELDS = {"title": "title", "description": "description", "mimeType": "mime_type"}


def output_text(output: Any) -> str:
    """Flatten a tool's output (text, content parts, or anything JSON) into text."""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and output:
        return "\n".join(output_text(part) for part in output)
    text = output.get("text") if isinstance(output, dict) else getattr(output, "text", None)
    if isinstance(text, str):
        return text
    try:
        return json.dumps(output, default=str)
    except TypeError:
        return str(output)


def parts_text(parts: list[dict[str, Any]]) -> str:
    """The parts as one text; structured content the server also sent as text is not repeated."""
    texts = [part["text"] for part in parts if part["type"] == "text"]
    shown = []
    for part in parts:
        if part["type"] == "structured" and "value" in part and sent_as_text(part["value"], texts):
            continue
        shown.append(part_text(part))
    return "\n".join(shown)


def step_result_apply(step: Any, output: Any, parts: list[dict[str, Any]] | None) -> None:
    """Put a call's result on its step: the parts, and the text rendering as its output."""
    tasks = [part for part in step.content or [] if part.get("type") == "task"]  # the call ran as these tasks
    step.content = [*(parts or []), *tasks]
    step.output = parts_text(parts) if parts else output_text(output)


def parts_described(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parts without their bytes, text cut to the page's limit: what events and the page carry."""
    left = settings.SWITCHBOARD["TOOL_OUTPUT_SHOWN_CHARS"]
    described = []
    for part in parts:
        part = {key: value for key, value in part.items() if key != "data"}
        if "text" in part:
            text = part["text"]
            part["text"] = text[: max(left, 0)]
            if len(text) > left:
                part["truncated"] = True
            left -= len(text)
        described.append(part)
    return described


def content_metadata(step: Any) -> dict[str, str]:
    """The step's `content` metadata entry: its parts described, as JSON (metadata values are strings)."""
    if not step.content:
        return {}
    return {"content": json.dumps(parts_described(step.content), ensure_ascii=False, separators=(",", ":"))}


def media_of(part: dict[str, Any]) -> str:
    """How a part's bytes are shown: "image", "audio", or "" (not shown: no bytes, or a type not allowed)."""
    if part["type"] not in ("image", "audio", "resource") or "omitted" in part or "text" in part:
        return ""
    mime_type = part.get("mime_type") or ""
    return next((kind for kind, types in MEDIA_TYPES.items() if mime_type in types), "")


def part_payload(step: Any, index: int) -> tuple[bytes, str] | None:
    """The bytes and type of a step's image or audio part, or None when it has none to show."""
    parts = step.content or []
    if not 0 <= index < len(parts):
        return None
    part = parts[index]
    if "data" not in part or not media_of(part):
        return None
    return base64.b64decode(part["data"]), part["mime_type"]


def parts_shown(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The described parts of a step object, each with its index and how to show it, for the tool card."""
    raw = (metadata or {}).get("content")
    if not raw:
        return []
    try:
        parts = json.loads(raw)
    except ValueError:
        return []
    structured = [part["value"] for part in parts if part["type"] == "structured" and "value" in part]
    shown = []
    for index, part in enumerate(parts):
        if part["type"] == "text" and structured and sent_as_text(structured[0], [part["text"]]):
            continue  # the structured content's own text copy: the card shows it once, as a table or JSON
        if part["type"] in ("app", "task"):
            continue  # a view has a frame of its own on the card (`app_shown`); a task's id is for the API
        part = {**part, "index": index, "media": media_of(part)}
        if part["type"] == "structured" and "value" in part:
            part["table"] = structured_table(part["value"])
            part["json"] = json.dumps(part["value"], indent=2, ensure_ascii=False)
        if part["type"] == "resource_link":
            part["href"] = part["uri"] if part["uri"].startswith(("https://", "http://")) else ""
        part["label"] = part_text(part) if part["type"] in ("image", "audio", "resource") else ""
        shown.append(part)
    return shown


def structured_table(value: Any) -> dict[str, Any] | None:
    """Structured content as a table where it is one: rows of flat objects, or one flat object (key, value)."""
    caption = ""
    lists = [key for key, v in value.items() if isinstance(v, list)] if isinstance(value, dict) else []
    if len(lists) == 1 and all(_scalar(v) for key, v in value.items() if key != lists[0]):
        # {"city": "Paris", "days": [...]}: the list is the table, the rest its caption.
        caption = ", ".join(f"{key}: {_cell(v)}" for key, v in value.items() if key != lists[0])
        value = value[lists[0]]
    if isinstance(value, dict) and value and all(_scalar(v) for v in value.values()):
        return {"columns": ["Field", "Value"], "rows": [[key, _cell(v)] for key, v in value.items()], "caption": ""}
    if not isinstance(value, list) or not value or len(value) > TABLE_ROWS_MAX:
        return None
    if not all(isinstance(row, dict) and all(_scalar(v) for v in row.values()) for row in value):
        return None
    columns: list[str] = []
    for row in value:
        columns.extend(key for key in row if key not in columns)
    if len(columns) > TABLE_COLUMNS_MAX:
        return None
    rows = [[_cell(row.get(column)) for column in columns] for row in value]
    return {"columns": columns, "rows": rows, "caption": caption}


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def app_shown(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The view (MCP Apps) a step object's tool call has, for its card: its `ui://` URI, or None."""
    raw = (metadata or {}).get("content")
    if not raw:
        return None
    try:
        parts = json.loads(raw)
    except ValueError:
        return None
    return next((part for part in parts if part.get("type") == "app" and part.get("uri")), None)


def app_uri(step: Any) -> str:
    """The `ui://` resource of a stored step's view, or ""."""
    return next((part["uri"] for part in step.content or [] if part.get("type") == "app"), "")


def app_tool_result(step: Any) -> dict[str, Any]:
    """A step's result as the MCP `CallToolResult` its view is sent (`ui/notifications/tool-result`)."""
    content: list[dict[str, Any]] = []
    result: dict[str, Any] = {"content": content, "isError": step.status == "failed"}
    for part in step.content or []:
        kind = part["type"]
        if kind == "text":
            content.append({"type": "text", "text": part["text"]})
        elif kind == "structured" and "value" in part:
            result["structuredContent"] = part["value"]
        elif kind in ("image", "audio") and "data" in part:
            content.append({"type": kind, "data": part["data"], "mimeType": part["mime_type"]})
        elif kind == "resource_link":
            link = {"type": "resource_link", "uri": part["uri"], "name": part["name"]}
            link |= {key: part[field] for key, field in LINK_FIELDS.items() if part.get(field)}
            content.append(link)
        elif kind == "resource" and ("text" in part or "data" in part):
            resource = {"uri": part["uri"], "mimeType": part["mime_type"]}
            resource |= {"text": part["text"]} if "text" in part else {"blob": part["data"]}
            content.append({"type": "resource", "resource": resource})
        elif kind not in ("app", "task"):
            content.append({"type": "text", "text": part_text(part)})  # what was left out, said so
    if not step.content:
        content.append({"type": "text", "text": step.output or step.error})
    return result
