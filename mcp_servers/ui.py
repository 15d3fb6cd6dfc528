"""MCP Apps (the `io.modelcontextprotocol/ui` extension): a tool that names a `ui://` resource gets a view.

A tool's definition (or, failing that, its result) points at an HTML resource in its `_meta.ui.resourceUri`. The
pool notes which tools have one and puts an `app` part beside the result's others (mcp_servers/results.py); the
chat reads the HTML through the pool when the owner's page shows the tool card, and serves it to a sandboxed
frame. Tools whose `_meta.ui.visibility` leaves out "model" are for a view alone: the model never sees them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from mcp.client.extension import ClientExtension, advertise

EXTENSION_ID = "io.modelcontextprotocol/ui"
APP_MIME_TYPE = "text/html;profile=mcp-app"
# A view's HTML is read whole into memory and sent to the browser: bigger documents are refused.
APP_HTML_MAX_BYTES = 1024 * 1024


class AppUnusable(ValueError):
    """A view's resource that cannot be shown: not HTML of the extension's type, not text, or too big."""


def apps_advertised() -> ClientExtension:
    """The client capability that tells a server Switchboard shows its HTML views."""
    return advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


def _ui_of(meta: Any) -> dict[str, Any]:
    ui = meta.get("ui") if isinstance(meta, dict) else None
    return ui if isinstance(ui, dict) else {}


def app_uri_of(meta: Any) -> str:
    """The `ui://` resource a tool's (or a result's) `_meta` names, or "" ("ui/resourceUri" is the older key)."""
    uri = _ui_of(meta).get("resourceUri")
    if uri is None and isinstance(meta, dict):
        uri = meta.get("ui/resourceUri")
    return uri if isinstance(uri, str) and uri.startswith("ui://") and len(uri) <= 2_000 else ""


def app_only(meta: Any) -> bool:
    """Whether a tool is for its view alone (`visibility` without "model"): the model must not be offered it."""
    visibility = _ui_of(meta).get("visibility")
    return isinstance(visibility, list) and "model" not in visibility


def _mime_of(value: Any) -> str:
    return "".join((value or "").lower().split())


def app_html(contents: list[Any], *, uri: str) -> str:
    """The HTML of a view from a `resources/read` answer: the item of the extension's type, text or base64."""
    for item in contents:
        if _mime_of(getattr(item, "mime_type", None)) != APP_MIME_TYPE or str(getattr(item, "uri", uri)) != uri:
            continue
        text = getattr(item, "text", None)
        if text is not None:
            data = text.encode()
        else:
            try:
                data = base64.b64decode(getattr(item, "blob", "") or "", validate=True)
            except (binascii.Error, ValueError):
                raise AppUnusable(f"The view {uri} is not valid base64.") from None
        if len(data) > APP_HTML_MAX_BYTES:
            raise AppUnusable(f"The view {uri} is over the {APP_HTML_MAX_BYTES // 1024} KiB limit of a view.")
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise AppUnusable(f"The view {uri} is not UTF-8 text.") from None
    raise AppUnusable(f"The server sent no {APP_MIME_TYPE} document for {uri}.")
