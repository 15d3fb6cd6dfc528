"""The Chainlit peer: the Agents SDK agent Switchboard runs, on the same fake model and the same demo MCP server.

    chainlit run bench/peers/chainlit_app.py --headless --host 127.0.0.1 --port N

with MODEL_URL (the fake model's `/v1`) and MCP_URL (the demo MCP server's streamable HTTP address) set. The chat
profile "tools" gives the agent the demo MCP server; "plain" (the default) has no tools. It runs in its own
virtualenv, with only Chainlit and the Agents SDK.
"""

from __future__ import annotations

import asyncio
import logging
import os

import chainlit as cl
from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI
from openai.types.responses import ResponseTextDeltaEvent

set_tracing_disabled(True)
for logger in ("httpx", "httpx2"):  # a log line for every model call is not part of the app
    logging.getLogger(logger).setLevel(logging.WARNING)
client = AsyncOpenAI(base_url=os.environ["MODEL_URL"], api_key="sk-bench-not-a-real-key", max_retries=0)
model = OpenAIChatCompletionsModel(model="fake-model", openai_client=client)
demo = MCPServerStreamableHttp(name="demo", params={"url": os.environ["MCP_URL"]}, cache_tools_list=True)
plain = Agent(name="Assistant", instructions="Be brief.", model=model)
tools = Agent(name="Assistant", instructions="Be brief.", model=model, mcp_servers=[demo])
_demo_ready: asyncio.Event | None = None


async def _hold_demo(ready: asyncio.Event) -> None:
    # One connection for the process, owned by one task for its whole life (its cancel scopes must not move).
    async with demo:
        ready.set()
        await asyncio.Event().wait()


async def demo_connected() -> None:
    global _demo_ready
    if _demo_ready is None:
        _demo_ready = asyncio.Event()
        asyncio.get_running_loop().create_task(_hold_demo(_demo_ready))
    await _demo_ready.wait()


@cl.set_chat_profiles
async def chat_profiles(user: cl.User | None) -> list[cl.ChatProfile]:
    return [
        cl.ChatProfile(name="plain", markdown_description="The agent alone."),
        cl.ChatProfile(name="tools", markdown_description="The agent with the demo MCP server."),
    ]


@cl.on_message
async def on_message(message: cl.Message) -> None:
    agent = plain
    if cl.user_session.get("chat_profile") == "tools":
        await demo_connected()
        agent = tools
    history = cl.user_session.get("history") or []
    history.append({"role": "user", "content": message.content})
    reply = cl.Message(content="")
    result = Runner.run_streamed(agent, input=history)
    async for event in result.stream_events():
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
            await reply.stream_token(event.data.delta)
    await reply.send()
    cl.user_session.set("history", result.to_input_list())
