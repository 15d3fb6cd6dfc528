"""Long-running tools as tasks (MCP 2025-11-25) against `@modelcontextprotocol/server-everything` over stdio: its
`simulate-research-query` may only be called as a task; a turn waits on the task, polling it at the server's
interval (its status on the card as progress), its step keeps the task's id, and stopping the run cancels the task
on the server. Against a server that keeps its tasks in a file (tests/fakes/task_mcp_server.py), a task outlives its
connection: the server is killed mid-task and the call goes on polling it over a new connection."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from chat.models import RunStep
from mcp_servers.models import MCPServer
from mcp_servers.services import mcp_server_connect
from mcp_servers.tasks import CANCEL_TIMEOUT
from tests.mcp_servers.helpers import TERMINAL, tool_output, tool_steps, turn
from tests.mcp_servers.test_transports import conversation_with, server_spec
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TASK_SERVER = str(django_settings.BASE_DIR / "tests" / "fakes" / "task_mcp_server.py")


def task_messages(frames: list[dict]) -> list[str]:
    return [
        f["data"]["metadata"]["progress_message"]
        for f in frames
        if f["event"] == "thread.run.step.in_progress" and "progress_message" in f["data"]["metadata"]
    ]


async def stopped_mid_task(user, conversation, content: str) -> list[dict]:
    """Send a message whose tool call runs as a task, stop the run once the task exists, and return the frames up to
    the run's end."""
    ws = await ws_connect(conversation.pk, user)
    try:
        await ws.send_json_to({"type": "message.create", "content": content})
        frames = await collect_until(ws, "thread.run.step.in_progress")
        while not task_messages(frames):  # the task exists once its first status is on the card
            frames += await collect_until(ws, "thread.run.step.in_progress")
        run_id = next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")
        await ws.send_json_to({"type": "run.cancel", "run_id": run_id})
        return await collect_until(ws, "thread.run.cancelled", "thread.run.failed", "thread.run.completed")
    finally:
        await ws.disconnect()


async def test_it_waits_on_a_task_until_the_server_completes_it(request, alice, offline_provider, pool):
    conversation = await sync_to_async(conversation_with)(
        alice, offline_provider, **server_spec(request, "everything-stdio")
    )
    frames = await turn(alice, conversation, '/simulate-research-query {"topic": "tides"}', timeout=60)

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert "# Research Report: tides" in tool_output(frames)
    [step] = tool_steps(frames)
    [task] = [part for part in (await RunStep.objects.aget(pk=step["id"])).content if part["type"] == "task"]
    assert task["task_id"] and f'"task_id":"{task["task_id"]}"' in step["metadata"]["content"]
    said = task_messages(frames)
    assert said[0].startswith("Task working") and len(said) >= 2  # polled, its status on the card


async def test_it_cancels_the_task_on_the_server_when_the_run_is_stopped(request, alice, offline_provider, pool):
    conversation = await sync_to_async(conversation_with)(
        alice, offline_provider, **server_spec(request, "everything-stdio")
    )
    frames = await stopped_mid_task(alice, conversation, '/simulate-research-query {"topic": "waves"}')
    assert frames[-1]["event"] == "thread.run.cancelled"

    server = await MCPServer.objects.aget(name="tools")
    connected = await mcp_server_connect(server=server, user_id=alice.pk, username="alice")
    # `tasks/cancel` goes out as the call is given up, beside the run's own end: the server may hear it a moment
    # after the run says it stopped (within CANCEL_TIMEOUT), and a loaded machine shows that moment.
    deadline = asyncio.get_running_loop().time() + CANCEL_TIMEOUT
    while True:
        [task] = (await connected.session._dispatcher.send_raw_request("tasks/list", {}, {}))["tasks"]
        if task["status"] != "working" or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert task["status"] == "cancelled" and task["statusMessage"] == "Client cancelled task execution."


async def test_it_polls_a_task_over_a_new_connection_after_its_server_went_away(
    alice, offline_provider, tmp_path, settings, pool
):
    # The server keeps its tasks where a sandboxed server may not write.
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    store = tmp_path / "tasks.json"
    conversation = await sync_to_async(conversation_with)(
        alice, offline_provider, transport="stdio", command=sys.executable, args=[TASK_SERVER, str(store)]
    )
    ws = await ws_connect(conversation.pk, alice)
    try:
        await ws.send_json_to({"type": "message.create", "content": '/brew {"seconds": 3}'})
        frames = await collect_until(ws, "thread.run.step.in_progress")
        while not task_messages(frames):
            frames += await collect_until(ws, "thread.run.step.in_progress")
        [task] = json.loads(store.read_text()).values()
        os.kill(task["pid"], signal.SIGKILL)  # the server dies mid-task; its task is in the file
        frames += await collect_until(ws, "thread.run.completed", "thread.run.failed", "thread.run.cancelled")
    finally:
        await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    output = tool_output(frames)
    assert output.startswith(f"Brewed (started by process {task['pid']}, finished by process ")
    assert f"finished by process {task['pid']})" not in output  # a new server process answered
    [step] = tool_steps(frames)
    assert (await RunStep.objects.aget(pk=step["id"])).content[-1] == {"type": "task", "task_id": task["id"]}


# --- The Tasks extension of 2026-07-28: the server makes a call a task ---------------------------------------------

EXTENSION_SERVER = str(django_settings.BASE_DIR / "tests" / "fakes" / "task_extension_mcp_server.py")


async def extension_conversation(alice, provider, store):
    return await sync_to_async(conversation_with)(
        alice, provider, transport="stdio", command=sys.executable, args=[EXTENSION_SERVER, str(store)]
    )


async def test_it_waits_on_a_task_the_server_makes_of_a_call_on_2026_07_28(
    alice, offline_provider, tmp_path, settings, pool
):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}  # the server writes its tasks outside one
    store = tmp_path / "tasks.json"
    conversation = await extension_conversation(alice, offline_provider, store)
    frames = await turn(alice, conversation, '/brew {"seconds": 1}')

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert tool_output(frames) == "Brewed for 1 s, as a task."  # the server saw the extension declared
    [task] = json.loads(store.read_text()).values()
    [step] = tool_steps(frames)
    assert (await RunStep.objects.aget(pk=step["id"])).content == [{"type": "task", "task_id": task["id"]}]
    assert task_messages(frames)[0] == "Task working: Brewing"


async def test_it_cancels_a_2026_07_28_task_when_the_run_is_stopped(alice, offline_provider, tmp_path, settings, pool):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    store = tmp_path / "tasks.json"
    conversation = await extension_conversation(alice, offline_provider, store)
    frames = await stopped_mid_task(alice, conversation, '/brew {"seconds": 60}')
    assert frames[-1]["event"] == "thread.run.cancelled"

    # The run ends without waiting for the server to answer its tasks/cancel: the server's own record says when
    # the cancel arrived (it has no status of its own until then).
    async with asyncio.timeout(10):
        while "status" not in (task := _stored_task(store)):
            await asyncio.sleep(0.05)
    assert task["status"] == "cancelled"


def _stored_task(store) -> dict:
    """The server's one task as it last wrote it (a write caught halfway reads as nothing yet)."""
    try:
        [task] = json.loads(store.read_text()).values()
    except ValueError:
        return {}
    return task


async def test_it_asks_the_user_what_a_2026_07_28_task_asks_and_sends_the_answer(
    alice, offline_provider, tmp_path, settings, pool
):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    conversation = await extension_conversation(alice, offline_provider, tmp_path / "tasks.json")
    ws = await ws_connect(conversation.pk, alice)
    try:
        await ws.send_json_to({"type": "message.create", "content": '/brew {"seconds": 0.5, "ask": true}'})
        frames = await collect_until(ws, "thread.run.requires_action", *TERMINAL)
        assert frames[-1]["event"] == "thread.run.requires_action", frames[-1]
        run = frames[-1]["data"]
        [call] = run["required_action"]["submit_tool_outputs"]["tool_calls"]
        question = call["elicitation"]
        assert question["message"] == "How strong?" and question["mode"] == "form"
        answer = {"strength": "strong"}
        await ws.send_json_to(
            {"type": "elicitation.respond", "run_id": run["id"], "elicitation_id": question["id"], "action": "accept",
             "content": answer}
        )  # fmt: skip
        frames = await collect_until(ws, *TERMINAL)
    finally:
        await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert tool_output(frames) == "Brewed for 0.5 s, strong, as a task."
