"""A message's files as the model's input: its images inline after its text."""

from __future__ import annotations

import base64
from typing import Any

from files.models import File


def image_data_url(file: File) -> str:
    """An image as the model takes it inline (Responses `input_image`; the SDK makes it Chat Completions'
    `image_url` for providers of that style)."""
    with file.content.open("rb") as handle:
        data = handle.read()
    return f"data:{file.content_type};base64,{base64.b64encode(data).decode()}"


def message_model_input(*, role: str, content: str, image_file_ids: list[str]) -> dict[str, Any]:
    """A stored message as the model's input: its text, and its images (those still there) after it."""
    if not image_file_ids:
        return {"role": role, "content": content}
    # The ids were checked to be the owner's when the message was stored; a file deleted since is left out.
    found = File.objects.in_bulk(image_file_ids)
    shown = [found[file_id] for file_id in image_file_ids if file_id in found]
    if not shown:
        return {"role": role, "content": content}
    parts: list[dict[str, Any]] = [{"type": "input_text", "text": content}] if content else []
    parts += [{"type": "input_image", "image_url": image_data_url(file), "detail": "auto"} for file in shown]
    return {"role": role, "content": parts}
