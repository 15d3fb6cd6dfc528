"""The MCP resources attached to a conversation's messages, read for the model as a run starts.

Owner-only: through the pool as the conversation's owner, from the run's own MCP servers (its assistant's), and
not at all when the owner may no longer run the assistant (the run's access check, `assistant_run_refusal`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from chat.selectors import Attached
from core.errors import ServiceError
from mcp_servers.models import MCPServer
from mcp_servers.services import mcp_server_resource_read

# A run reads at most this many attached resources (the latest ones of the branch it reads); older ones are named.
RESOURCES_PER_RUN = 20
RESOURCE_READ_SECONDS = 20


async def model_input_resources_read(
    *, attached: list[Attached], servers: list[MCPServer], refusal: str | None, user_id: int, username: str
) -> str:
    """Put the contents of the resources attached to the input's messages after each message's text; a warning
    naming those that could not be read ("" if all were).

    Every run reads them again, so an attached resource that changed is read as it is now on the next turn. No
    resources/subscribe: only 2025-era servers offer it, its notifications arrive on the pooled connection, which
    other runs and users share and which may be replaced, so knowing which resources changed would need state kept
    per connection for a saving of one read per attachment, bounded by RESOURCES_PER_RUN; reading them again is
    always right, whatever the server."""
    by_name = {server.name: server for server in servers}
    # The latest attachments first: those are the ones read when there are too many. Each once, all at once.
    wanted = list(dict.fromkeys((r["server"], r["uri"]) for entry in reversed(attached) for r in entry.resources))
    wanted = wanted[:RESOURCES_PER_RUN]
    texts = await asyncio.gather(
        *(
            _resource_text(by_name.get(server), refusal=refusal, user_id=user_id, username=username, uri=uri)
            for server, uri in wanted
        )
    )
    read = dict(zip(wanted, texts, strict=True))
    for entry in attached:
        parts = []
        for resource in entry.resources:
            text = read.get((resource["server"], resource["uri"]))
            if text is None:
                text = "[Not read again: too many resources in this conversation.]"
            elif isinstance(text, Exception):
                text = f"[This resource could not be read: {text}]"
            parts.append(_resource_part(resource, text))
        content = entry.item["content"]
        text_parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else list(content)
        entry.item["content"] = text_parts + parts
    failed = [
        f"{uri} on {server} ({str(text)[:200]})" for (server, uri), text in read.items() if isinstance(text, Exception)
    ]
    if not failed:
        return ""
    return "Could not read the attached resource" + ("s " if len(failed) > 1 else " ") + "; ".join(failed) + "."


def _resource_part(resource: dict[str, str], text: str) -> dict[str, Any]:
    return {
        "type": "input_text",
        "text": f"Attached resource {resource['uri']} (from the MCP server {resource['server']}):\n{text}",
    }


async def _resource_text(
    server: MCPServer | None, *, refusal: str | None, user_id: int, username: str, uri: str
) -> str | Exception:
    if refusal:
        return ServiceError("permission_denied", refusal)
    if server is None:
        return ServiceError("mcp_server_unavailable", "its server is not one of the assistant's")
    try:
        async with asyncio.timeout(RESOURCE_READ_SECONDS):
            return await mcp_server_resource_read(server=server, user_id=user_id, username=username, uri=uri)
    except TimeoutError:
        return ServiceError("mcp_server_unavailable", f"no answer in {RESOURCE_READ_SECONDS} s")
    except Exception as exc:  # noqa: BLE001 - any failure is the warning's, and the run goes on
        return exc
