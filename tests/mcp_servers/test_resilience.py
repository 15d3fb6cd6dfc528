"""Pooled connections under load and failure: parallel runs, a killed server, timeouts, progress, leaks."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from assistants.models import Assistant
from chat.models import Conversation, Run
from mcp_servers.models import MCPServer
from tests.mcp_servers.conftest import children
from tests.mcp_servers.helpers import TERMINAL, answer, tool_output, tool_steps, turn
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


def demo_assistant_with(provider, *, label: str = "", **server_fields) -> Assistant:
    args = ["-m", "mcp_servers.demo"] + ([f"--label={label}"] if label else [])
    fields = {"call_timeout": 10, **server_fields}
    server = MCPServer.objects.create(
        name="demo", command=sys.executable, args=args, cwd=str(settings.BASE_DIR), **fields
    )
    # Shared (no owner), so conversations of several users can use it.
    assistant = Assistant.objects.create(name="Demo", provider=provider)
    assistant.mcp_servers.add(server)
    return assistant


def conversations(user, assistant, count: int) -> list[Conversation]:
    return [Conversation.objects.create(owner=user, assistant=assistant) for _ in range(count)]


async def test_it_runs_twenty_turns_in_parallel_on_one_connection(alice, offline_provider, pool):
    assistant = await sync_to_async(demo_assistant_with)(offline_provider)
    chats = await sync_to_async(conversations)(alice, assistant, 20)
    results = await asyncio.gather(
        *(turn(alice, chat, f'/add {{"a": {i}, "b": 1000}}', timeout=60) for i, chat in enumerate(chats))
    )
    assert [frames[-1]["event"] for frames in results] == ["thread.run.completed"] * 20
    assert [tool_output(frames) for frames in results] == [str(i + 1000) for i in range(20)]
    stats = pool.stats()
    assert stats["connections"] == 1 and stats["names"] == ["demo"]


async def test_it_fails_a_run_whose_server_dies_mid_call_and_reconnects_for_the_next(alice, offline_provider, pool):
    assistant = await sync_to_async(demo_assistant_with)(offline_provider, label="victim", call_timeout=60)
    (chat,) = await sync_to_async(conversations)(alice, assistant, 1)
    ws = await ws_connect(chat.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": '/wait {"seconds": 30}'})
    await collect_until(ws, "thread.run.step.in_progress")
    (victim,) = [pid for pid, cmdline in children() if "--label=victim" in cmdline]
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    os.kill(victim, signal.SIGKILL)
    frames = await collect_until(ws, "thread.run.completed", "thread.run.failed", timeout=15)
    await ws.disconnect()
    print(f"\nrun failed {loop.time() - killed_at:.2f} s after the server was killed")
    assert loop.time() - killed_at < 15
    assert frames[-1]["event"] == "thread.run.failed"
    assert frames[-1]["data"]["last_error"]["code"] == "tool_server_lost"
    run = await Run.objects.aget(conversation=chat)
    assert run.last_error_code == "tool_server_lost"
    assert "went away during a call to 'wait'" in run.last_error

    frames = await turn(alice, chat, "/draw_dot")
    assert frames[-1]["event"] == "thread.run.completed"
    assert tool_output(frames) == "*"


async def test_it_fails_only_the_call_that_outlives_its_timeout(alice, offline_provider, pool):
    assistant = await sync_to_async(demo_assistant_with)(offline_provider, call_timeout=1)
    (chat,) = await sync_to_async(conversations)(alice, assistant, 1)
    frames = await turn(alice, chat, '/wait {"seconds": 5}')
    assert frames[-1]["event"] == "thread.run.completed"
    (step,) = tool_steps(frames)
    assert step["status"] == "failed"
    assert "did not answer within 1 s" in step["last_error"]["message"]
    # The model is told, and says so.
    assert "did not answer within 1 s" in answer(frames)


async def test_it_lets_a_call_that_reports_progress_outlast_its_timeout(alice, offline_provider, pool):
    assistant = await sync_to_async(demo_assistant_with)(offline_provider, call_timeout=2)
    (chat,) = await sync_to_async(conversations)(alice, assistant, 1)
    started = asyncio.get_running_loop().time()
    # 3 s in all, longer than the 2 s timeout; a progress report every 0.5 s.
    frames = await turn(alice, chat, '/count {"steps": 6, "interval": 0.5}')
    assert asyncio.get_running_loop().time() - started > 3
    assert frames[-1]["event"] == "thread.run.completed"
    assert tool_output(frames) == "counted to 6"


async def test_it_sees_a_new_tool_after_the_server_says_its_tools_changed(alice, offline_provider, pool):
    assistant = await sync_to_async(demo_assistant_with)(offline_provider)
    (chat,) = await sync_to_async(conversations)(alice, assistant, 1)
    frames = await turn(alice, chat, "/tools")
    assert "- `bonus`:" not in answer(frames)
    frames = await turn(alice, chat, "/reveal_bonus")
    assert frames[-1]["event"] == "thread.run.completed"
    frames = await turn(alice, chat, "/tools")
    assert "- `bonus`:" in answer(frames)
    frames = await turn(alice, chat, "/bonus")
    assert frames[-1]["event"] == "thread.run.completed"
    assert tool_output(frames) == "bonus!"


async def test_it_leaves_no_child_process_after_a_hundred_runs_and_shutdown(alice, offline_provider, pool):
    before = children()
    assistant = await sync_to_async(demo_assistant_with)(offline_provider)
    chats = await sync_to_async(conversations)(alice, assistant, 20)
    sockets = [await ws_connect(chat.pk, alice) for chat in chats]

    async def five_runs(ws) -> int:
        completed = 0
        for i in range(5):
            await ws.send_json_to({"type": "message.create", "content": f'/add {{"a": {i}, "b": 1}}'})
            frames = await collect_until(ws, *TERMINAL, timeout=60)
            completed += frames[-1]["event"] == "thread.run.completed"
        await ws.disconnect()
        return completed

    completed = sum(await asyncio.gather(*(five_runs(ws) for ws in sockets)))
    during = children()
    await pool.close_all()
    after = children()
    print(f"\nchild processes: before {len(before)}, during {len(during)}, after shutdown {len(after)}")
    assert completed == 100
    assert len(during) == len(before) + 1
    assert after == before


async def test_it_opens_one_connection_per_user_for_a_per_user_server(alice, bob, offline_provider, pool):
    assistant = await sync_to_async(demo_assistant_with)(
        offline_provider, label="{username}", scope=MCPServer.Scope.PER_USER
    )
    (alice_chat,) = await sync_to_async(conversations)(alice, assistant, 1)
    (bob_chat,) = await sync_to_async(conversations)(bob, assistant, 1)
    for user, chat in ((alice, alice_chat), (bob, bob_chat), (alice, alice_chat)):
        frames = await turn(user, chat, "/draw_dot")
        assert frames[-1]["event"] == "thread.run.completed"
    stats = pool.stats()
    assert stats["connections"] == 2
    assert sorted(d["user_id"] for d in stats["details"]) == sorted([alice.pk, bob.pk])
    labels = sorted(cmdline.rsplit("--label=", 1)[1] for _, cmdline in children() if "--label=" in cmdline)
    assert labels == ["alice", "bob"]
