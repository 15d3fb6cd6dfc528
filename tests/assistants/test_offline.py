from __future__ import annotations

import json

from agents import Agent, FunctionTool, Runner

from assistants.offline import OfflineModel
from chat.markdown import markdown_render


async def _echo(ctx, arguments: str) -> str:
    return "echo:" + json.loads(arguments)["text"]


ECHO = FunctionTool(
    name="echo",
    description="Echo the text back.",
    params_json_schema={
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
        "additionalProperties": False,
    },
    on_invoke_tool=_echo,
)


def _agent() -> Agent:
    return Agent(name="test", model=OfflineModel(), tools=[ECHO])


async def _stream(message: str) -> tuple[list[str], str]:
    result = Runner.run_streamed(_agent(), input=message)
    deltas = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    return deltas, result.final_output


async def test_it_lists_its_tools():
    _, answer = await _stream("/tools")
    assert "`echo`: Echo the text back." in answer


async def test_it_calls_a_tool_and_answers_with_its_result():
    deltas, answer = await _stream('/echo {"text": "hi"}')
    assert answer == "The tool `echo` returned: echo:hi"
    assert len(deltas) > 3 and "".join(deltas) == answer


async def test_it_quotes_anything_else_in_several_deltas():
    deltas, answer = await _stream("hello there")
    assert "offline model" in answer and "hello there" in answer
    assert len(deltas) > 5


async def test_it_explains_unknown_tools_and_bad_arguments():
    _, unknown = await _stream("/nope")
    assert "no tool named `nope`" in unknown
    _, bad = await _stream("/echo {not json")
    assert "not valid JSON" in bad


async def test_it_answers_without_streaming_too():
    result = await Runner.run(_agent(), input='/echo {"text": "x"}')
    assert result.final_output == "The tool `echo` returned: echo:x"
    assert result.context_wrapper.usage.total_tokens > 0


async def test_it_is_deterministic():
    first = await Runner.run(_agent(), input="same words")
    second = await Runner.run(_agent(), input="same words")
    assert first.final_output == second.final_output


async def test_it_quotes_a_message_of_several_lines_as_a_block_that_renders_whole():
    _, answer = await _stream("Show me code:\n\n```python\nprint('hello')\n```")
    assert "> ```python\n> print('hello')\n> ```" in answer
    quote, after = markdown_render(answer).split("</blockquote>")
    assert '<span class="s1">\'hello\'</span><span class="p">)</span>\n</code></pre>' in quote
    assert "Send" in after
