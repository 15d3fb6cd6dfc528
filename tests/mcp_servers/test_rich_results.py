"""Rich results from real servers over real transports: server-everything's image, structured content, resource
links and embedded resources, and the demo's picture and forecast over Streamable HTTP, each through a full turn,
checked in the stored step, the socket's events and the tool card."""

from __future__ import annotations

import base64
import json

import pytest
from asgiref.sync import sync_to_async

from chat.models import RunStep
from tests.mcp_servers.helpers import tool_steps, turn
from tests.mcp_servers.test_composer_picker import client_of
from tests.mcp_servers.test_transports import conversation_with, server_spec

pytestmark = pytest.mark.django_db(transaction=True)

EVERYTHING = ["everything-stdio", "everything-http"]


async def rich_turn(request, kind: str, user, provider, content: str) -> tuple[dict, list[dict], str]:
    """One turn calling one tool: (the finished step object, the stored parts, the tool card's markup)."""
    conversation = await sync_to_async(conversation_with)(user, provider, **server_spec(request, kind))
    frames = await turn(user, conversation, content)
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    [step] = tool_steps(frames)
    html = next(f["entry"]["html"] for f in frames if f["event"] == "thread.run.step.completed" and f["data"] == step)
    stored = await RunStep.objects.aget(pk=step["id"])
    return step, stored.content, html


@pytest.mark.parametrize("kind", EVERYTHING)
async def test_it_keeps_and_shows_server_everythings_tiny_image(request, kind, alice, offline_provider, pool):
    step, parts, html = await rich_turn(request, kind, alice, offline_provider, "/get-tiny-image {}")

    assert [part["type"] for part in parts] == ["text", "image", "text"]
    assert parts[1]["mime_type"] == "image/png" and base64.b64decode(parts[1]["data"]).startswith(b"\x89PNG")
    assert f'<img src="/conversations/{step["thread_id"]}/steps/{step["id"]}/content/1"' in html
    output = step["step_details"]["tool_calls"][0]["function"]["output"]
    assert "[An image (image/png, " in output


@pytest.mark.parametrize("kind", EVERYTHING)
async def test_it_checks_and_tabulates_server_everythings_structured_content(
    request, kind, alice, offline_provider, pool
):
    step, parts, html = await rich_turn(
        request, kind, alice, offline_provider, '/get-structured-content {"location": "Chicago"}'
    )

    assert parts[-1] == {
        "type": "structured",
        "value": {"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82},
    }
    assert "<tr><td>conditions</td><td>Light rain / drizzle</td></tr>" in html
    assert json.loads(step["step_details"]["tool_calls"][0]["function"]["output"])["humidity"] == 82


@pytest.mark.parametrize("kind", EVERYTHING)
async def test_it_shows_server_everythings_resource_links(request, kind, alice, offline_provider, pool):
    step, parts, html = await rich_turn(request, kind, alice, offline_provider, '/get-resource-links {"count": 2}')

    links = [part for part in parts if part["type"] == "resource_link"]
    assert len(links) == 2 and all(link["uri"].startswith("demo://") for link in links)
    assert html.count('<p class="tool-link">') == 2
    assert f"<code>{links[0]['uri']}</code>" in html and 'href="demo:' not in html  # not a web link
    assert (
        f"[Resource link: {links[0]['name']} <{links[0]['uri']}>"
        in step["step_details"]["tool_calls"][0]["function"]["output"]
    )


async def test_it_reads_a_resource_link_for_the_owner_only(request, alice, bob, offline_provider, pool):
    step, parts, html = await rich_turn(
        request, "everything-stdio", alice, offline_provider, '/get-resource-links {"count": 1}'
    )
    index = next(n for n, part in enumerate(parts) if part["type"] == "resource_link")
    url = f"/conversations/{step['thread_id']}/steps/{step['id']}/resource/{index}"
    assert f'<a href="{url}"' in html

    response = await (await client_of(alice)).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.strip() and "sandbox" in response["Content-Security-Policy"]
    assert (await (await client_of(bob)).get(url)).status_code == 404
    assert (await (await client_of(alice)).get(url.replace(f"/{index}", "/0"))).status_code == 404  # not a link


async def test_it_shows_server_everythings_embedded_resource(request, alice, offline_provider, pool):
    _, parts, html = await rich_turn(
        request, "everything-stdio", alice, offline_provider, '/get-resource-reference {"resourceId": 1}'
    )

    [resource] = [part for part in parts if part["type"] == "resource"]
    assert resource["uri"].startswith("demo://") and resource["text"]
    assert f'<p class="muted">Resource <code>{resource["uri"]}</code></p>' in html


async def test_it_keeps_the_demos_picture_over_streamable_http(request, alice, offline_provider, pool):
    _, parts, html = await rich_turn(request, "demo-http", alice, offline_provider, '/draw_picture {"size": 24}')
    assert parts[0]["type"] == "image" and "<img " in html


async def test_it_keeps_the_demos_forecast_over_streamable_http(request, alice, offline_provider, pool):
    _, parts, html = await rich_turn(request, "demo-http", alice, offline_provider, '/forecast {"city": "Rome"}')
    assert parts[-1]["value"]["city"] == "Rome" and len(parts[-1]["value"]["days"]) == 3
    assert "<caption>city: Rome</caption>" in html
