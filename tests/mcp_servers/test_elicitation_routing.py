"""Whose question it is: a server's `elicitation/create` (2025-11-25) names no call, so it reaches the caller of
the one call under way on its connection, and is refused when callers of several share the connection."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp_servers.elicitation import tool_elicitation
from mcp_servers.pool import Pool, tool_progress
from tests.mcp_servers.conftest import everything_command


def everything_params(**fields: Any) -> dict[str, Any]:
    command, *args = everything_command()
    return {"transport": "stdio", "command": command, "args": args, "cwd": "", "url": "", "env": {}, "headers": {},
            "connect_timeout": 30, "call_timeout": 30, **fields}  # fmt: skip


async def call_asking(
    server: Any, name: str, arguments: dict, asked: list[str], who: str, progressed: asyncio.Event | None = None
) -> Any:
    """Call a tool from a task of its own, answering any question as `who` (and setting `progressed` once the
    tool reports progress)."""

    async def answer(tool: str, request: dict[str, Any]) -> tuple[str, dict | None]:
        asked.append(who)
        return "accept", {"name": who}

    tool_elicitation.set(answer)
    if progressed is not None:
        tool_progress.set(lambda *_: progressed.set())
    return await server.call_tool(name, arguments)


async def test_it_asks_the_one_caller_whose_call_is_under_way():
    pool = Pool()
    try:
        server = await pool.acquire(server_id=1, name="everything", params=everything_params(), options={},
                                    user_id=None, idle_seconds=60)  # fmt: skip
        asked: list[str] = []
        result = await asyncio.create_task(call_asking(server, "trigger-elicitation-request", {}, asked, "Ada"))
    finally:
        await pool.close_all()
    assert asked == ["Ada"]
    assert "- Name: Ada" in result.content[1].text


async def test_it_refuses_a_question_while_callers_of_other_calls_share_the_connection():
    pool = Pool()
    try:
        server = await pool.acquire(server_id=1, name="everything", params=everything_params(), options={},
                                    user_id=None, idle_seconds=60)  # fmt: skip
        asked: list[str] = []
        progressed = asyncio.Event()
        long = asyncio.create_task(
            call_asking(server, "trigger-long-running-operation", {"duration": 4, "steps": 4}, asked, "Bob", progressed)
        )
        await progressed.wait()  # Bob's call is under way
        result = await asyncio.create_task(call_asking(server, "trigger-elicitation-request", {}, asked, "Ada"))
        await long
    finally:
        await pool.close_all()
    assert asked == []
    assert result.is_error
    assert "cannot tell which of the tool calls under way asked" in result.content[0].text
