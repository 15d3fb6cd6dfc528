"""A tool's MCP server asks the user something during the call (elicitation): the run waits as requires_action with
the server's form on the tool card, and the owner's answer (accept, decline, cancel) goes back to the server.

Against real servers: `@modelcontextprotocol/server-everything`, which asks during the call (2025-11-25), and a
server on the `mcp` SDK that answers `input_required` and is called again with the answer (2026-07-28).
"""

from __future__ import annotations

import json
import sys

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import AsyncClient, Client

from assistants.models import Assistant
from chat.models import Conversation, Run, RunStep
from chat.services import elicitation_respond
from core.errors import ServiceError
from core.tokens import token_create
from mcp_servers.models import MCPServer
from mcp_servers.pool import get_pool
from tests.api.conftest import AsyncApi
from tests.mcp_servers.conftest import Recording, everything_command, everything_http_url, recording  # noqa: F401 - a fixture  # noqa: F401 - a fixture
from tests.ws import collect_until, names, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")
ASK_FORM = "/trigger-elicitation-request {}"
ASKING_SERVER = str(settings.BASE_DIR / "tests" / "fakes" / "asking_mcp_server.py")


@pytest.fixture(autouse=True)
async def _pool():
    yield
    await get_pool().close_all()  # no server process outlives its test


def conversation_with(user, provider, **server_fields) -> Conversation:
    server = MCPServer.objects.create(name="tools", cwd=str(settings.BASE_DIR), call_timeout=20, **server_fields)
    assistant = Assistant.objects.create(name="Asker", owner=user, provider=provider)
    assistant.mcp_servers.add(server)
    return Conversation.objects.create(owner=user, assistant=assistant)


@pytest.fixture
def alice_api_async(alice) -> AsyncApi:
    return AsyncApi(AsyncClient(), token_create(user=alice, name="test")[1])


@pytest.fixture
def everything(alice, offline_provider) -> Conversation:
    command, *args = everything_command()
    return conversation_with(alice, offline_provider, command=command, args=args)


@pytest.fixture(params=["stdio", "streamable_http"])
def everything_both(request, alice, offline_provider) -> Conversation:
    """A conversation with server-everything over stdio, then over Streamable HTTP."""
    if request.param == "stdio":
        command, *args = everything_command()
        return conversation_with(alice, offline_provider, command=command, args=args)
    url = request.getfixturevalue("everything_http_url")
    return conversation_with(alice, offline_provider, transport=MCPServer.Transport.STREAMABLE_HTTP, url=url)


@pytest.fixture
def asking(alice, offline_provider, settings) -> Conversation:
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}  # the fake runs from the checkout
    return conversation_with(alice, offline_provider, command=sys.executable, args=[ASKING_SERVER])


async def asked(ws, content: str = ASK_FORM) -> tuple[dict, dict, list[dict]]:
    """Send a message whose tool call asks the user: (the waiting run, its question, every frame so far)."""
    await ws.send_json_to({"type": "message.create", "content": content})
    frames = await collect_until(ws, "thread.run.requires_action", *TERMINAL)
    assert frames[-1]["event"] == "thread.run.requires_action", frames[-1]
    run = frames[-1]["data"]
    (call,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    return run, call["elicitation"], frames


async def answered(ws, run: dict, question: dict, action: str, content: dict | None = None) -> list[dict]:
    frame = {"type": "elicitation.respond", "run_id": run["id"], "elicitation_id": question["id"], "action": action}
    if content is not None:
        frame["content"] = content
    await ws.send_json_to(frame)
    return await collect_until(ws, *TERMINAL)


async def step_output(run_id: str) -> str:
    step = await RunStep.objects.aget(run_id=run_id, type=RunStep.Type.TOOL_CALLS)
    return step.output


async def test_it_shows_the_servers_form_on_the_tool_card_and_waits(alice, everything):
    ws = await ws_connect(everything.pk, alice)
    run, question, frames = await asked(ws)

    call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    assert call["function"]["name"] == "trigger-elicitation-request"
    assert (question["mode"], question["server"], question["tool_call_id"]) == ("form", "tools", call["id"])
    assert question["message"] == "Please provide inputs for the following fields:"
    assert question["requested_schema"]["required"] == ["name"]
    assert run["expires_at"] == question["expires_at"]
    card = [f for f in frames if f["event"] == "thread.run.step.in_progress" and "elicitation" in f["data"]["metadata"]]
    html = card[-1]["entry"]["html"]
    assert 'data-action="elicitation"' in html and f'data-elicitation-id="{question["id"]}"' in html
    assert 'type="email"' in html and 'data-kind="integer"' in html and 'min="1"' in html and 'max="100"' in html
    assert "Waiting for your answer" in html and "Approve" not in html
    stored = await Run.objects.aget(pk=run["id"])
    assert stored.status == Run.Status.REQUIRES_ACTION and stored.pending_elicitation["id"] == question["id"]

    await answered(ws, run, question, "cancel")
    await ws.disconnect()


async def test_it_sends_the_accepted_answer_to_the_server(alice, everything_both):
    ws = await ws_connect(everything_both.pk, alice)
    run, question, _ = await asked(ws)

    frames = await answered(ws, run, question, "accept", {"name": "Ada Lovelace", "check": True, "integer": 7})
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert "thread.run.in_progress" in names(frames)
    output = await step_output(run["id"])
    assert "User provided the requested information" in output
    assert "- Name: Ada Lovelace" in output and "- Favorite Integer: 7" in output
    stored = await Run.objects.aget(pk=run["id"])
    assert "elicitation" not in stored.metadata and "required_action" not in stored.metadata


@pytest.mark.parametrize(("action", "said"), [("decline", "User declined"), ("cancel", "User cancelled")])
async def test_it_tells_the_server_the_user_declined_or_cancelled(alice, everything, action, said):
    ws = await ws_connect(everything.pk, alice)
    run, question, _ = await asked(ws)

    frames = await answered(ws, run, question, action, {"name": "not sent"})
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    output = await step_output(run["id"])
    assert said in output and "not sent" not in output


async def test_it_shows_the_form_again_after_a_reload(alice, everything):
    ws = await ws_connect(everything.pk, alice)
    run, question, _ = await asked(ws)
    await ws.disconnect()

    client = Client()
    await sync_to_async(client.force_login)(alice)
    page = await sync_to_async(client.get)(f"/conversations/{everything.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'data-elicitation-id="{question["id"]}"' in html and "Your full, legal name" in html
    assert "Waiting for your answer…" in html and "Waiting for your approval" not in html

    ws = await ws_connect(everything.pk, alice)
    await ws.send_json_to({"type": "thread.snapshot"})
    (snapshot,) = [f for f in await collect_until(ws, "thread.snapshot")][-1:]
    assert snapshot["data"]["active_run"]["status"] == "requires_action"
    steps = [e["data"] for e in snapshot["data"]["timeline"] if e["kind"] == "step"]
    assert steps[-1]["step_details"]["tool_calls"][0]["elicitation"]["id"] == question["id"]
    assert any(f'data-elicitation-id="{question["id"]}"' in e["html"] for e in snapshot["data"]["entries"])

    frames = await answered(ws, run, question, "accept", {"name": "Ada"})
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    assert "- Name: Ada" in await step_output(run["id"])


async def test_it_lets_only_the_conversations_owner_answer(alice, bob, everything):
    ws = await ws_connect(everything.pk, alice)
    run, question, _ = await asked(ws)

    with pytest.raises(ServiceError) as refused:
        await elicitation_respond(user=bob, run_id=run["id"], elicitation_id=question["id"], action="accept",
                                  content={"name": "Mallory"})  # fmt: skip
    assert refused.value.status == 404
    stored = await Run.objects.aget(pk=run["id"])
    assert stored.pending_elicitation is not None

    frames = await answered(ws, run, question, "decline")
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    assert "Mallory" not in await step_output(run["id"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"check": True}, "'String' is required."),
        ({"name": "Ada", "integer": 500}, "'Integer' must be at most 100."),
        ({"name": "Ada", "email": "not an address"}, "'String with email format' must be an email address."),
        ({"name": "Ada", "untitledSingleSelectEnum": "Gunther"}, "'Untitled Single Select Enum' must be one of"),
        ({"name": "Ada", "surprise": 1}, "'surprise' is not a field of this form."),
    ],
)
async def test_it_refuses_an_answer_that_does_not_fit_the_form_and_keeps_waiting(alice, everything, content, message):
    ws = await ws_connect(everything.pk, alice)
    run, question, _ = await asked(ws)

    await ws.send_json_to(
        {"type": "elicitation.respond", "run_id": run["id"], "elicitation_id": question["id"], "action": "accept",
         "content": content}
    )  # fmt: skip
    (error,) = await collect_until(ws, "error")
    assert error["data"]["code"] == "invalid_content"
    assert error["data"]["message"].startswith(message)
    stored = await Run.objects.aget(pk=run["id"])
    assert stored.status == Run.Status.REQUIRES_ACTION and stored.pending_elicitation["id"] == question["id"]

    frames = await answered(ws, run, question, "accept", {"name": "Ada", "integer": 100})
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"


async def test_it_refuses_an_answer_to_a_question_not_asked(alice, everything):
    ws = await ws_connect(everything.pk, alice)
    run, question, _ = await asked(ws)

    await ws.send_json_to({"type": "elicitation.respond", "run_id": run["id"], "elicitation_id": "elic_other",
                           "action": "accept"})  # fmt: skip
    (error,) = await collect_until(ws, "error")
    assert error["data"]["code"] == "invalid_elicitation_id"
    await ws.send_json_to({"type": "elicitation.respond", "run_id": run["id"], "elicitation_id": question["id"],
                           "action": "maybe"})  # fmt: skip
    (error,) = await collect_until(ws, "error")
    assert error["data"]["code"] == "invalid_action"

    await answered(ws, run, question, "cancel")
    await ws.send_json_to({"type": "elicitation.respond", "run_id": run["id"], "elicitation_id": question["id"],
                           "action": "accept"})  # fmt: skip
    (error,) = await collect_until(ws, "error")
    assert error["data"]["code"] == "elicitation_not_pending"
    await ws.disconnect()


async def test_it_refuses_to_approve_a_call_that_waits_for_an_answer(alice, everything):
    ws = await ws_connect(everything.pk, alice)
    run, question, _ = await asked(ws)

    await ws.send_json_to({"type": "run.approve", "run_id": run["id"], "tool_call_id": question["tool_call_id"]})
    (error,) = await collect_until(ws, "error")
    assert error["data"]["code"] == "elicitation_pending"
    stored = await Run.objects.aget(pk=run["id"])
    assert stored.status == Run.Status.REQUIRES_ACTION and "approvals" not in stored.metadata

    frames = await answered(ws, run, question, "decline")
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"


async def test_it_cancels_the_question_when_nobody_answers_in_time(alice, everything, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "ELICITATION_TIMEOUT_SECONDS": 1.0}
    ws = await ws_connect(everything.pk, alice)
    run, _, _ = await asked(ws)

    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    assert "User cancelled" in await step_output(run["id"])


async def test_it_does_not_count_the_wait_against_the_runs_time(alice, everything, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "RUN_TIMEOUT_SECONDS": 5.0, "ELICITATION_TIMEOUT_SECONDS": 6.0}
    ws = await ws_connect(everything.pk, alice)
    run, _, _ = await asked(ws)

    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]["data"]["last_error"]
    assert "User cancelled" in await step_output(run["id"])


async def test_it_takes_an_answer_given_on_another_process(alice, everything, monkeypatch):
    # As if the page's socket were on another process: the answer is stored, and the run's process is told
    # through the channel layer's control group.
    monkeypatch.setattr("chat.services.elicitations.elicitation_wake", lambda run_id, answer=None: False)
    ws = await ws_connect(everything.pk, alice)
    run, question, _ = await asked(ws)

    frames = await answered(ws, run, question, "accept", {"name": "Grace"})
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    assert "- Name: Grace" in await step_output(run["id"])


async def test_it_stops_waiting_when_the_run_is_stopped(alice, everything):
    ws = await ws_connect(everything.pk, alice)
    run, _, _ = await asked(ws)

    await ws.send_json_to({"type": "run.cancel", "run_id": run["id"]})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.cancelled"
    stored = await Run.objects.aget(pk=run["id"])
    assert stored.status == Run.Status.CANCELLED and stored.pending_elicitation is None
    step = await RunStep.objects.aget(run_id=run["id"], type=RunStep.Type.TOOL_CALLS)
    assert step.status == RunStep.Status.CANCELLED


async def test_it_sends_the_server_exactly_the_answer_given(alice, recording: Recording):  # noqa: F811 - the fixture
    ws = await ws_connect(recording.conversation.pk, alice)
    run, question, _ = await asked(ws, "/ask {}")

    frames = await answered(ws, run, question, "accept", {"word": "hello"})
    await ws.disconnect()
    await get_pool().close_all()

    assert frames[-1]["event"] == "thread.run.completed"
    (answer,) = [m["result"] for m in recording.received() if "method" not in m and str(m.get("id")).startswith("q-")]
    assert answer == {"action": "accept", "content": {"word": "hello"}}


async def test_it_tells_the_server_the_call_was_cancelled_when_the_run_is_stopped(
    alice,
    recording: Recording,  # noqa: F811 - the fixture
):
    ws = await ws_connect(recording.conversation.pk, alice)
    run, question, _ = await asked(ws, "/ask {}")
    assert question["message"] == "Say a word."

    await ws.send_json_to({"type": "run.cancel", "run_id": run["id"]})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    await get_pool().close_all()

    assert frames[-1]["event"] == "thread.run.cancelled"
    messages = recording.received()
    call = next(m for m in messages if m.get("method") == "tools/call")
    cancelled = [m["params"]["requestId"] for m in messages if m.get("method") == "notifications/cancelled"]
    assert cancelled == [call["id"]]


async def test_it_asks_to_open_a_page_in_url_mode(alice, everything):
    ws = await ws_connect(everything.pk, alice)
    run, question, frames = await asked(ws, '/trigger-url-elicitation {"url": "https://example.com/connect"}')

    assert (question["mode"], question["url"]) == ("url", "https://example.com/connect")
    html = [f for f in frames if f["event"] == "thread.run.step.in_progress"][-1]["entry"]["html"]
    assert 'href="https://example.com/connect"' in html and 'rel="noopener noreferrer"' in html

    frames = await answered(ws, run, question, "accept")
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    assert "User completed the URL elicitation flow" in await step_output(run["id"])


async def test_it_answers_an_input_required_result_by_calling_again(alice, asking):
    ws = await ws_connect(asking.pk, alice)
    run, question, _ = await asked(ws, '/book_table {"restaurant": "Chez Nous"}')

    assert question["requested_schema"]["properties"]["guests"]["maximum"] == 8
    await ws.send_json_to({"type": "elicitation.respond", "run_id": run["id"], "elicitation_id": question["id"],
                           "action": "accept", "content": {"guests": 9, "email": "ada@example.com"}})  # fmt: skip
    (error,) = await collect_until(ws, "error")
    assert error["data"]["message"] == "'Guests' must be at most 8."

    frames = await answered(ws, run, question, "accept", {"guests": 2, "email": "ada@example.com"})
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    assert await step_output(run["id"]) == "Booked Chez Nous for 2; confirmation to ada@example.com."


async def test_it_takes_the_answer_as_the_waiting_calls_output_over_the_api(alice, asking, alice_api_async):
    ws = await ws_connect(asking.pk, alice)
    run, question, _ = await asked(ws, '/book_table {"restaurant": "Chez Nous"}')
    path = f"threads/{asking.pk}/runs/{run['id']}/submit_tool_outputs"
    output = json.dumps({"action": "accept", "content": {"guests": 3, "email": "ada@example.com"}})

    response = await alice_api_async.post(path, {"tool_outputs": [{"tool_call_id": "call_other", "output": output}]})
    assert response.status_code == 400
    response = await alice_api_async.post(
        path, {"tool_outputs": [{"tool_call_id": question["tool_call_id"], "output": output}]}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "in_progress"

    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    assert await step_output(run["id"]) == "Booked Chez Nous for 3; confirmation to ada@example.com."
