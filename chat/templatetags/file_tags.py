"""What the chat page shows of a message's files: its attachments' chips, its images, the files its answer cites."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def _cited_name(marker: str) -> str:
    # 【0:1†notes.md】: the name the answer was given for the result it cites.
    return marker.partition("†")[2].removesuffix("】") or "source"


@register.filter
def message_files(item: dict[str, Any]) -> dict[str, list[Any]]:
    """From a message's wire object: the ids of its attached files and images, and the files it cites (once each,
    in the order first cited, with the name the citation gives)."""
    parts = item.get("content") or []
    cited: dict[str, str] = {}
    for part in parts:
        for note in (part.get("text") or {}).get("annotations") or [] if part.get("type") == "text" else []:
            if note.get("type") == "file_citation":
                cited.setdefault(note["file_citation"]["file_id"], _cited_name(note.get("text", "")))
    return {
        "attachments": [attachment["file_id"] for attachment in item.get("attachments") or []],
        "images": [part["image_file"]["file_id"] for part in parts if part.get("type") == "image_file"],
        "citations": [{"file_id": file_id, "name": name} for file_id, name in cited.items()],
    }
