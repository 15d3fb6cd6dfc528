"""What Switchboard tells an MCP server it can do, as the server hears it in `initialize`."""

from __future__ import annotations

import json
import sys

import pytest

from assistants.models import Assistant
from chat.models import Conversation
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_declares_elicitation_and_views_and_no_deprecated_capability(
    alice, offline_provider, tmp_path, settings
):
    # The server writes its log where a sandboxed server may not.
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    log = tmp_path / "received.jsonl"
    server = await MCPServer.objects.acreate(
        name="recording",
        command=sys.executable,
        args=[str(settings.BASE_DIR / "tests" / "fakes" / "recording_mcp_server.py"), str(log)],
        cwd=str(settings.BASE_DIR),
    )
    assistant = await Assistant.objects.acreate(name="Lister", owner=alice, provider=offline_provider)
    await assistant.mcp_servers.aset([server])
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    try:
        ws = await ws_connect(conversation.pk, alice)
        await ws.send_json_to({"type": "message.create", "content": "/tools"})
        frames = await collect_until(ws, "thread.run.completed", "thread.run.failed")
        await ws.disconnect()
    finally:
        await get_pool().close_all()
    assert frames[-1]["event"] == "thread.run.completed"

    received = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    capabilities = next(m for m in received if m.get("method") == "initialize")["params"]["capabilities"]
    assert set(capabilities["elicitation"]) == {"form", "url"}
    assert "io.modelcontextprotocol/ui" in json.dumps(capabilities)
    # Sampling and roots are deprecated on 2026-07-28 (SEP-2577): never offered, so never asked for.
    assert "sampling" not in capabilities and "roots" not in capabilities
    assert not [m for m in received if m.get("method") in ("sampling/createMessage", "roots/list")]
