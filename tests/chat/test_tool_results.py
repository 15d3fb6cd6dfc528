"""Rich tool results: images, audio, links, resources and structured content, kept whole on the step, shown in the
tool card from Switchboard's own URL, given to the model as image input, bounded, and never able to run script."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import AsyncClient, Client

from assistants.models import Assistant, Provider
from chat.models import Conversation, RunStep
from core.tokens import token_create
from mcp_servers.models import MCPServer
from tests.config.test_settings import _check as settings_check
from tests.fakes.openai_server import FakeOpenAIServer
from tests.mcp_servers.helpers import tool_steps, turn
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

RICH_SERVER = Path(settings.BASE_DIR) / "tests" / "fakes" / "rich_mcp_server.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def rich_assistant(offline_provider):
    server = MCPServer.objects.create(
        name="rich",
        transport=MCPServer.Transport.STDIO,
        command=sys.executable,
        args=[str(RICH_SERVER)],
        call_timeout=10,
    )
    assistant = Assistant.objects.create(name="Rich", provider=offline_provider, instructions="Be brief.")
    assistant.mcp_servers.add(server)
    return assistant


def finished(frames):
    """The step object and the tool card of the turn's one tool call, as its last event carried them."""
    frame = next(
        f
        for f in frames
        if f["event"] in ("thread.run.step.completed", "thread.run.step.failed") and f["data"]["type"] == "tool_calls"
    )
    return frame["data"], frame["entry"]["html"]


def content_url(step: dict, index: int) -> str:
    return f"/conversations/{step['thread_id']}/steps/{step['id']}/content/{index}"


@sync_to_async
def get(user, url: str):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(url)


async def test_it_keeps_an_image_whole_and_serves_it_to_the_owner_only(alice, bob, demo_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    frames = await turn(alice, conversation, '/draw_picture {"size": 16}')
    step, html = finished(frames)

    stored = await RunStep.objects.aget(pk=step["id"])
    [part] = stored.content
    assert part["type"] == "image" and part["mime_type"] == "image/png"
    assert base64.b64decode(part["data"]).startswith(PNG_SIGNATURE) and part["size"] == len(
        base64.b64decode(part["data"])
    )
    # The API's output stays a string: the text rendering.
    output = step["step_details"]["tool_calls"][0]["function"]["output"]
    assert output.startswith("[An image (image/png, ")
    # Events carry the parts without their bytes.
    assert "data" not in json.loads(step["metadata"]["content"])[0]
    assert f'<img src="{content_url(step, 0)}"' in html and "data:" not in html

    response = await get(alice, content_url(step, 0))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content == base64.b64decode(part["data"])
    assert response["X-Content-Type-Options"] == "nosniff" and "sandbox" in response["Content-Security-Policy"]
    assert (await get(bob, content_url(step, 0))).status_code == 404
    assert (await get(None, content_url(step, 0))).status_code == 302  # to the login page
    assert (await get(alice, content_url(step, 1))).status_code == 404  # no such part


async def test_it_shows_structured_content_as_a_table_and_gives_the_api_its_json(alice, demo_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    step, html = finished(await turn(alice, conversation, '/forecast {"city": "Paris", "days": 2}'))

    stored = await RunStep.objects.aget(pk=step["id"])
    structured = next(part["value"] for part in stored.content if part["type"] == "structured")
    assert structured["city"] == "Paris" and len(structured["days"]) == 2
    assert json.loads(step["step_details"]["tool_calls"][0]["function"]["output"]) == structured
    assert '<table class="tool-table"><caption>city: Paris</caption>' in html
    assert '<th scope="col">high_c</th>' in html and f"<td>{structured['days'][1]['sky']}</td>" in html
    assert html.count("&quot;high_c&quot;: ") == 2  # its JSON once (two days), not again as the text copy


async def test_it_plays_audio_from_its_own_url(alice, rich_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=rich_assistant)
    step, html = finished(await turn(alice, conversation, "/sound {}"))

    assert f'<audio controls preload="none" src="{content_url(step, 0)}">' in html
    response = await get(alice, content_url(step, 0))
    assert response["Content-Type"] == "audio/wav" and response.content.startswith(b"RIFF")
    assert step["step_details"]["tool_calls"][0]["function"]["output"].startswith("[An audio clip (audio/wav, ")


async def test_it_runs_no_script_a_server_sends(alice, rich_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=rich_assistant)
    step, html = finished(await turn(alice, conversation, "/hostile {}"))

    assert step["status"] == "completed"
    assert "<script" not in html and "<img src=x" not in html and "<svg" not in html
    assert "&lt;script&gt;" in html  # shown, as text
    assert "javascript:" not in html.replace("<code>javascript:alert(1)</code>", "")  # never an href
    assert 'href="javascript' not in html
    # The SVG image (it could run script) and the part that was not base64 are never served.
    parts = json.loads(step["metadata"]["content"])
    assert [part["type"] for part in parts] == ["text", "image", "image", "resource_link", "resource", "structured"]
    assert (await get(alice, content_url(step, 1))).status_code == 404
    assert parts[2]["omitted"] == "its data was not valid base64"
    assert (await get(alice, content_url(step, 2))).status_code == 404
    assert "<img" not in html


async def test_it_replaces_an_image_over_the_limit_with_a_note(alice, rich_assistant, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "TOOL_RESULT_PART_MAX_BYTES": 1000}
    conversation = await Conversation.objects.acreate(owner=alice, assistant=rich_assistant)
    step, html = finished(await turn(alice, conversation, '/images {"count": 1, "bytes": 2000}'))

    stored = await RunStep.objects.aget(pk=step["id"])
    image = stored.content[1]
    assert "data" not in image and image["size"] == 2000
    assert image["omitted"] == "over the 1000 B limit of one part"
    output = step["step_details"]["tool_calls"][0]["function"]["output"]
    assert "[An image (image/png, 1.95 KiB) was left out: over the 1000 B limit of one part]" in output
    assert "<img" not in html and "was left out" in html


async def test_it_bounds_what_one_call_keeps_in_all(alice, rich_assistant, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "TOOL_RESULT_PART_MAX_BYTES": 1000, "TOOL_RESULT_MAX_BYTES": 1500}
    conversation = await Conversation.objects.acreate(owner=alice, assistant=rich_assistant)
    step, html = finished(await turn(alice, conversation, '/images {"count": 3, "bytes": 600}'))

    stored = await RunStep.objects.aget(pk=step["id"])
    kept = ["data" in part for part in stored.content[1:]]
    assert kept == [True, True, False]
    assert stored.content[3]["omitted"] == "past the limit of one call's results"
    assert html.count("<img ") == 2


async def test_it_fails_a_call_whose_structured_content_breaks_its_schema(alice, rich_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=rich_assistant)
    step, _ = finished(await turn(alice, conversation, "/bad_structured {}"))

    assert step["status"] == "failed"
    assert "Invalid structured content returned by tool bad_structured" in step["last_error"]["message"]
    assert "'many' is not of type 'integer'" in step["last_error"]["message"]


@pytest.mark.parametrize("api_style", [Provider.ApiStyle.RESPONSES, Provider.ApiStyle.CHAT_COMPLETIONS])
async def test_it_gives_the_model_an_image_as_image_input_where_the_api_takes_one(alice, demo_assistant, api_style):
    with FakeOpenAIServer() as fake:
        provider = demo_assistant.provider
        provider.kind, provider.api_style = Provider.Kind.OPENAI, api_style
        provider.base_url, provider.api_key, provider.default_model = fake.base_url, "sk-test", "fake-default"
        provider.timeout, provider.max_retries = 10, 0
        await provider.asave()
        conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
        frames = await turn(alice, conversation, '/draw_picture {"size": 8}')

    assert tool_steps(frames)[0]["status"] == "completed"
    answered = json.dumps(fake.requests[1].body)
    if api_style == Provider.ApiStyle.RESPONSES:
        assert '"type": "input_image"' in answered and '"image_url": "data:image/png;base64,iVBOR' in answered
    else:
        assert "data:image/png" not in answered  # Chat Completions takes text only from a tool
    assert "An image (image/png, " in fake.requests[1].tool_outputs[0]


async def test_it_lists_a_rich_result_over_the_api_as_text_and_json_strings(alice, bob, demo_assistant):
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    step, _ = finished(await turn(alice, conversation, '/forecast {"city": "Oslo", "days": 1}'))
    client = AsyncClient()

    async def steps(user):
        token = (await sync_to_async(token_create)(user=user, name="test"))[1]
        url = f"/v1/threads/{conversation.pk}/runs/{step['run_id']}/steps"
        return await client.get(url, headers={"Authorization": f"Bearer {token}"})

    listed = (await steps(alice)).json()["data"]
    [tool_step] = [s for s in listed if s["type"] == "tool_calls"]
    output = tool_step["step_details"]["tool_calls"][0]["function"]["output"]
    assert isinstance(output, str) and json.loads(output)["city"] == "Oslo"
    assert all(isinstance(value, str) for value in tool_step["metadata"].values())
    parts = json.loads(tool_step["metadata"]["content"])
    assert parts[-1] == {"type": "structured", "value": json.loads(output)}
    assert (await steps(bob)).status_code == 404


async def test_it_keeps_a_rich_result_of_a_call_approved_after_a_pause(alice, demo_assistant, demo_server):
    demo_server.approval, demo_server.approval_tools = MCPServer.Approval.LISTED, ["draw_picture"]
    await demo_server.asave()
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/draw_picture {"size": 8}'})
    paused = (await collect_until(ws, "thread.run.requires_action", "thread.run.failed"))[-1]["data"]
    call_id = paused["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]

    await ws.send_json_to({"type": "run.approve", "run_id": paused["id"], "tool_call_id": call_id})
    frames = await collect_until(ws, "thread.run.completed", "thread.run.failed")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    step = await RunStep.objects.aget(run_id=paused["id"], type="tool_calls")
    assert step.status == "completed" and step.content[0]["type"] == "image" and "data" in step.content[0]


def test_it_refuses_to_start_with_a_tool_result_bound_below_one_byte():
    result = settings_check({"TOOL_RESULT_PART_MAX_BYTES": "0"})
    assert result.returncode != 0
    assert "TOOL_RESULT_PART_MAX_BYTES must be a positive number of bytes." in result.stderr
