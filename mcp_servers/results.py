"""What an MCP tool returned: kept whole (within bounds) for the people who see it, fitted for the model.

A result holds text, images, audio, resource links, embedded resources and structured content.
`result_parts_apply` turns it into JSON parts, where a binary part over its size limit (or past the call's total)
becomes a placeholder that says so, and rewrites the content the model gets: images stay images (the Agents SDK
gives them to providers that take image input), everything else becomes text that describes it. The parts ride
in the result's `_meta` under PARTS_META to the transports' custom data extractor, which hands them to the run.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.conf import settings
from mcp_types import CallToolResult, TextContent

# Where the parts travel from the session proxy to the custom data extractor (never sent to a server).
PARTS_META = "switchboard/parts"
# Only these are shown as media: a browser runs script in SVG, and sniffs nothing it is told is one of these.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
AUDIO_TYPES = frozenset(
    {
        "audio/wav", "audio/x-wav", "audio/wave", "audio/mpeg", "audio/mp3", "audio/ogg", "audio/webm",
        "audio/mp4", "audio/aac", "audio/flac",
    }
)  # fmt: skip
MEDIA_TYPES = {"image": IMAGE_TYPES, "audio": AUDIO_TYPES}


def size_text(size: int) -> str:
    """A byte count as a person reads it: 512 B, 1.5 KiB, 4 MiB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.3g} KiB"
    return f"{size / (1024 * 1024):.3g} MiB"


class Budget:
    """The binary bytes one call may keep: each part up to a limit, and all of them together up to another."""

    def __init__(self) -> None:
        self.part_max = settings.SWITCHBOARD["TOOL_RESULT_PART_MAX_BYTES"]
        self.left = settings.SWITCHBOARD["TOOL_RESULT_MAX_BYTES"]

    def take(self, data: Any) -> tuple[int, str]:
        """(decoded size, why it cannot be kept or ""), counting a kept part against the call's total."""
        if not isinstance(data, str):
            return 0, "it carried no data"
        try:
            size = len(base64.b64decode(data, validate=True))
        except (binascii.Error, ValueError):
            return 0, "its data was not valid base64"
        if size > self.part_max:
            return size, f"over the {size_text(self.part_max)} limit of one part"
        if size > self.left:
            return size, "past the limit of one call's results"
        self.left -= size
        return size, ""


def _binary_part(kind: str, data: Any, mime_type: str, budget: Budget, **fields: Any) -> dict[str, Any]:
    size, omitted = budget.take(data)
    part: dict[str, Any] = {"type": kind, "mime_type": mime_type, "size": size, **fields}
    if omitted:
        part["omitted"] = omitted
    else:
        part["data"] = data
    return part


def content_part(item: Any, budget: Budget) -> dict[str, Any]:
    """One MCP content block as a JSON part, its bytes kept if the budget allows."""
    kind = getattr(item, "type", "")
    if kind == "text":
        return {"type": "text", "text": item.text}
    if kind in ("image", "audio"):
        return _binary_part(kind, item.data, (item.mime_type or "").lower(), budget)
    if kind == "resource_link":
        return {
            "type": "resource_link",
            "uri": str(item.uri),
            "name": item.name,
            "title": item.title or "",
            "description": item.description or "",
            "mime_type": item.mime_type or "",
        }
    if kind == "resource":
        resource = item.resource
        uri, mime_type = str(resource.uri), (resource.mime_type or "").lower()
        if getattr(resource, "text", None) is not None:
            return {"type": "resource", "uri": uri, "mime_type": mime_type, "text": resource.text}
        return _binary_part("resource", getattr(resource, "blob", None), mime_type, budget, uri=uri)
    return {"type": "text", "text": json.dumps(item.model_dump(mode="json", by_alias=True, exclude_none=True))}


def part_text(part: dict[str, Any]) -> str:
    """One part as text: what the model reads of it, and the API's rendering."""
    kind = part["type"]
    if kind == "text":
        return part["text"]
    if kind == "structured":
        return json.dumps(part["value"], indent=2, ensure_ascii=False) if "value" in part else f"[{part['omitted']}]"
    if kind == "resource_link":
        label = part["title"] or part["name"]
        mime = f", {part['mime_type']}" if part["mime_type"] else ""
        return f"[Resource link: {label} <{part['uri']}>{mime}]"
    if kind == "resource" and "text" in part:
        return f"[Resource <{part['uri']}>]\n{part['text']}"
    if kind == "app":
        return f"[An interactive view <{part['uri']}>, shown to the user]"
    if kind == "task":
        return f"[Run as the server's task {part['task_id']}]"
    noun = {"image": "An image", "audio": "An audio clip", "resource": f"A resource <{part.get('uri', '')}>"}[kind]
    described = f"{noun} ({part['mime_type'] or 'no type'}, {size_text(part['size'])})"
    if "omitted" in part:
        return f"[{described} was left out: {part['omitted']}]"
    return f"[{described}, shown to the user]"


def _structured_part(value: Any) -> dict[str, Any]:
    limit = settings.SWITCHBOARD["TOOL_RESULT_STRUCTURED_MAX_BYTES"]
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > limit:
        return {"type": "structured", "omitted": f"Structured content of {size_text(size)} was left out: over the "
                f"{size_text(limit)} limit"}  # fmt: skip
    return {"type": "structured", "value": value}


def result_parts(result: CallToolResult) -> list[dict[str, Any]]:
    """The result's content and structured content as bounded JSON parts, in the server's order."""
    budget = Budget()
    parts = [content_part(item, budget) for item in result.content]
    if result.structured_content is not None:
        parts.append(_structured_part(result.structured_content))
    return parts


def sent_as_text(value: Any, texts: list[str]) -> bool:
    """Whether structured content is the same data as one of the texts (the spec asks servers to send both)."""
    for text in texts:
        try:
            if json.loads(text) == value:
                return True
        except ValueError:
            continue
    return False


def _only_text(parts: list[dict[str, Any]]) -> bool:
    """Text alone, or text and a primitive wrapped as structured content ({"result": 5} beside "5")."""
    texts = [part["text"] for part in parts if part["type"] == "text"]
    for part in parts:
        if part["type"] == "structured":
            value = part.get("value")
            wrapped = value["result"] if isinstance(value, dict) and list(value) == ["result"] else None
            if wrapped is None or not (wrapped in texts or sent_as_text(wrapped, texts)):
                return False
        elif part["type"] != "text":
            return False
    return True


def result_parts_apply(result: CallToolResult, *, app: str = "") -> None:
    """Give the model what it can take of the result, and carry the parts to the extractor, if any is not text or
    the tool has a view (`app`, its `ui://` resource: an `app` part after the others, not for the model)."""
    parts = result_parts(result)
    if _only_text(parts) and not app:
        return
    content: list[Any] = []
    for item, part in zip(result.content, parts, strict=False):
        if part["type"] == "text":
            content.append(item)
        elif part["type"] == "image" and "data" in part and part["mime_type"] in IMAGE_TYPES:
            # Chat Completions providers drop the image: the text says one was there.
            content.extend([TextContent(type="text", text=part_text({**part, "type": "image"})), item])
        else:
            content.append(TextContent(type="text", text=part_text(part)))
    if result.structured_content is not None and not any(part["type"] == "text" for part in parts):
        # The spec asks servers to send structured content as text too; this one did not.
        content.append(TextContent(type="text", text=part_text(parts[-1])))
    result.content = content
    if app:
        parts.append({"type": "app", "uri": app})
    result.meta = {**(result.meta or {}), PARTS_META: parts}
