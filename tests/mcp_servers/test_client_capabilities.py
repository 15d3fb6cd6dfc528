"""What Switchboard tells an MCP server it can do, as the server hears it in `initialize`."""

from __future__ import annotations

import json

import pytest

from mcp_servers.pool import get_pool
from tests.mcp_servers.conftest import Recording
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_declares_elicitation_and_views_and_no_deprecated_capability(alice, recording: Recording):
    try:
        ws = await ws_connect(recording.conversation.pk, alice)
        await ws.send_json_to({"type": "message.create", "content": "/tools"})
        frames = await collect_until(ws, "thread.run.completed", "thread.run.failed")
        await ws.disconnect()
    finally:
        await get_pool().close_all()
    assert frames[-1]["event"] == "thread.run.completed"

    received = recording.received()
    capabilities = next(m for m in received if m.get("method") == "initialize")["params"]["capabilities"]
    assert set(capabilities["elicitation"]) == {"form", "url"}
    assert "io.modelcontextprotocol/ui" in json.dumps(capabilities)
    # Sampling and roots are deprecated on 2026-07-28 (SEP-2577): never offered, so never asked for.
    assert "sampling" not in capabilities and "roots" not in capabilities
    assert not [m for m in received if m.get("method") in ("sampling/createMessage", "roots/list")]
