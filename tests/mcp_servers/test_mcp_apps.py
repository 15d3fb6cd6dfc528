"""MCP Apps against a real server built on the `mcp` SDK's Apps extension (tests/fakes/app_mcp_server.py), over
stdio, through full turns: the step keeps its tool's view, the card frames it sandboxed, and the view's HTML and
its call's data are served to the conversation's owner alone, under a CSP that walls the view off."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import AsyncClient
from mcp_types import BlobResourceContents, TextResourceContents

from chat.models import Conversation, RunStep
from mcp_servers.ui import APP_MIME_TYPE, AppUnusable, app_html
from tests.mcp_servers.helpers import answer, tool_steps, turn
from tests.mcp_servers.test_composer_picker import client_of
from tests.mcp_servers.test_transports import conversation_with

pytestmark = pytest.mark.django_db(transaction=True)

APP_SERVER = Path(settings.BASE_DIR) / "tests" / "fakes" / "app_mcp_server.py"


@pytest.fixture
def apps_conversation(alice, offline_provider):
    return conversation_with(alice, offline_provider, transport="stdio", command=sys.executable, args=[str(APP_SERVER)])


async def view_turn(user, conversation, content: str) -> tuple[dict, RunStep, str]:
    """One turn calling one tool with a view: (its finished step object, its stored step, its card's markup)."""
    frames = await turn(user, conversation, content)
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    [step] = tool_steps(frames)
    html = next(f["entry"]["html"] for f in frames if f["event"] == "thread.run.step.completed" and f["data"] == step)
    return step, await RunStep.objects.aget(pk=step["id"]), html


def urls(step: dict) -> tuple[str, str]:
    base = f"/conversations/{step['thread_id']}/steps/{step['id']}/app"
    return base, f"{base}/data"


async def test_it_keeps_the_tools_view_on_the_step_and_frames_it_sandboxed(alice, apps_conversation, pool):
    step, stored, html = await view_turn(alice, apps_conversation, '/counter {"start": 2}')

    assert stored.content[-1] == {"type": "app", "uri": "ui://counter/view.html"}
    # The server heard that Switchboard shows views (the extension's client capability).
    assert {"type": "structured", "value": {"count": 3, "view": True}} in stored.content
    app_url, data_url = urls(step)
    assert (
        f'<iframe class="tool-app-frame" src="{app_url}" data-context-url="{data_url}" sandbox="allow-scripts"' in html
    )
    assert "allow-same-origin" not in html
    assert "[An interactive view <ui://counter/view.html>, shown to the user]" in stored.output


async def test_it_serves_the_view_to_the_owner_alone_walled_off(alice, bob, apps_conversation, pool):
    step, _, _ = await view_turn(alice, apps_conversation, '/counter {"start": 2}')
    app_url, data_url = urls(step)

    response = await (await client_of(alice)).get(app_url)
    assert response.status_code == 200 and response["Content-Type"] == "text/html; charset=utf-8"
    assert b"Counter view" in response.content
    policy = response["Content-Security-Policy"]
    for directive in ("default-src 'none'", "connect-src 'none'", "frame-ancestors 'self'", "sandbox allow-scripts"):
        assert directive in policy
    assert (
        "allow-same-origin" not in policy
        and "allow-top-navigation" not in policy
        and "'self'" not in (policy.replace("frame-ancestors 'self'", ""))
    )
    assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "SAMEORIGIN"

    data = (await (await client_of(alice)).get(data_url)).json()
    assert data["arguments"] == {"start": 2}
    assert data["result"]["structuredContent"] == {"count": 3, "view": True} and data["result"]["isError"] is False

    for url in (app_url, data_url):
        assert (await (await client_of(bob)).get(url)).status_code == 404
        assert (await AsyncClient().get(url)).status_code == 302  # to the login page


async def test_it_offers_the_model_no_tool_meant_for_the_view_alone(alice, apps_conversation, pool):
    frames = await turn(alice, apps_conversation, "/tools")
    listed = answer(frames)
    assert "counter" in listed and "probe" in listed
    assert "bump" not in listed


async def test_it_refuses_a_view_over_the_size_limit(alice, apps_conversation, pool):
    step, stored, _ = await view_turn(alice, apps_conversation, "/huge {}")
    assert stored.content[-1] == {"type": "app", "uri": "ui://huge/view.html"}

    response = await (await client_of(alice)).get(urls(step)[0])
    assert response.status_code == 502 and b"over the 1024 KiB limit of a view" in response.content
    assert "sandbox allow-scripts" in response["Content-Security-Policy"]


async def test_it_has_no_view_for_a_tool_without_one(alice, demo_assistant, pool):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    frames = await turn(alice, conversation, "/draw_dot")
    [step] = tool_steps(frames)
    for url in urls(step):
        assert (await (await client_of(alice)).get(url)).status_code == 404


def test_it_reads_a_views_html_as_text_or_base64_of_the_extensions_type_only():
    uri = "ui://x/view.html"
    html = "<!doctype html><p>é</p>"
    assert app_html([TextResourceContents(uri=uri, mime_type=APP_MIME_TYPE, text=html)], uri=uri) == html
    blob = base64.b64encode(html.encode()).decode()
    spaced = "text/html; profile=mcp-app"
    assert app_html([BlobResourceContents(uri=uri, mime_type=spaced, blob=blob)], uri=uri) == html
    for contents in (
        [TextResourceContents(uri=uri, mime_type="text/html", text=html)],
        [TextResourceContents(uri="ui://x/other.html", mime_type=APP_MIME_TYPE, text=html)],
        [BlobResourceContents(uri=uri, mime_type=APP_MIME_TYPE, blob="not base64!")],
        [],
    ):
        with pytest.raises(AppUnusable):
            app_html(contents, uri=uri)
