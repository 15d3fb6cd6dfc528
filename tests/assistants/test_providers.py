"""Full turns over the WebSocket through the real openai client and Agents SDK, against a local fake provider."""

from __future__ import annotations

import json
import logging
import time

import pytest
from openai import AsyncOpenAI

from assistants.models import Provider
from chat.models import Conversation, Message, Run, RunStep
from tests.fakes.openai_server import (
    CHAT_PATH,
    RESPONSES_PATH,
    FakeOpenAIServer,
    Usage,
    auto,
    cut,
    error,
    model_not_found,
    rate_limited,
    server_error,
    stall,
    tool_call,
    unauthorized,
)
from tests.ws import collect_until, names, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")
API_KEY = "sk-test-SECRET-123456"
APIS = {
    # api style under test: (provider kind, provider api_style, the path the client must call)
    "responses": (Provider.Kind.OPENAI, Provider.ApiStyle.RESPONSES, RESPONSES_PATH),
    "chat_completions": (Provider.Kind.OPENAI_COMPATIBLE, Provider.ApiStyle.CHAT_COMPLETIONS, CHAT_PATH),
}


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(params=list(APIS))
def api(request):
    return request.param


@pytest.fixture
def provider(demo_assistant, fake, api):
    provider = demo_assistant.provider
    provider.name = "Fake provider"
    provider.kind, provider.api_style, _ = APIS[api]
    provider.base_url = fake.base_url
    provider.api_key = API_KEY
    provider.default_model = "fake-default"
    provider.timeout = 10
    provider.max_retries = 0
    provider.save()
    return provider


@pytest.fixture
def conversation(alice, demo_assistant, provider):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant)


async def provider_set(provider: Provider, **fields) -> None:
    for name, value in fields.items():
        setattr(provider, name, value)
    await provider.asave(update_fields=list(fields))


async def turn(ws, content: str, *, timeout: float = 30) -> list[dict]:
    await ws.send_json_to({"type": "message.create", "content": content})
    return await collect_until(ws, *TERMINAL, timeout=timeout)


def streamed(frames: list[dict]) -> list[str]:
    return [f["data"]["delta"]["content"][0]["text"]["value"] for f in frames if f["event"] == "thread.message.delta"]


def last_error(frames: list[dict]) -> dict:
    assert frames[-1]["event"] == "thread.run.failed", names(frames)
    return frames[-1]["data"]["last_error"]


async def test_it_streams_a_text_answer(alice, conversation, fake, api):
    # A model's pace: each token reaches the page on its own (50 ms apart, so a busy machine does not merge them).
    fake.token_interval = 0.05
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "hello there")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    deltas = streamed(frames)
    assert len(deltas) > 3
    answer = "".join(deltas)
    assert answer == "Hello from the fake provider. You said: hello there"
    run = await Run.objects.aget(conversation=conversation)
    assert run.status == Run.Status.COMPLETED
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert (reply.content, reply.status) == (answer, Message.Status.COMPLETED)
    reported = fake.usage_reported
    assert reported.total_tokens > 0
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (
        reported.input_tokens,
        reported.output_tokens,
        reported.total_tokens,
    )
    [request] = fake.model_requests()
    assert request.path == APIS[api][2]
    assert request.stream is True
    if api == "chat_completions":
        assert request.body["stream_options"] == {"include_usage": True}
    assert request.model == "fake-default"
    assert request.user_texts == ["hello there"]


async def test_it_records_the_usage_the_provider_reported(alice, conversation, fake):
    # Chat Completions endpoints other than api.openai.com stream usage only when the client asks for it
    # (stream_options.include_usage), and so does the fake: this also checks that the app asks.
    fake.script(
        tool_call("add", {"a": 2, "b": 3}, usage=Usage(input_tokens=30, output_tokens=5)),
        auto(usage=Usage(input_tokens=40, output_tokens=9)),
    )
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "add two and three")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    assert len(fake.model_requests()) == 2
    reported = fake.usage_reported
    assert (reported.input_tokens, reported.output_tokens) == (70, 14)
    run = await Run.objects.aget(conversation=conversation)
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (70, 14, 84)
    assert frames[-1]["data"]["usage"] == {"prompt_tokens": 70, "completion_tokens": 14, "total_tokens": 84}
    # Each model call's usage lands on the step it produced.
    tool_step = await RunStep.objects.aget(run=run, type=RunStep.Type.TOOL_CALLS)
    message_step = await RunStep.objects.aget(run=run, type=RunStep.Type.MESSAGE_CREATION)
    assert (tool_step.prompt_tokens, tool_step.completion_tokens, tool_step.total_tokens) == (30, 5, 35)
    assert (message_step.prompt_tokens, message_step.completion_tokens, message_step.total_tokens) == (40, 9, 49)


async def test_it_answers_from_an_mcp_tool_result(alice, conversation, fake, api):
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, '/add {"a": 2, "b": 3}')
    await ws.disconnect()

    events = names(frames)
    assert events[-1] == "thread.run.completed"
    tool_done = next(
        f["data"] for f in frames if f["event"] == "thread.run.step.completed" and f["data"]["type"] == "tool_calls"
    )
    call = tool_done["step_details"]["tool_calls"][0]
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    assert call["function"]["output"] == "5"
    answer = "".join(streamed(frames))
    assert "5" in answer
    assert events.index("thread.run.step.completed") < events.index("thread.message.delta")

    run = await Run.objects.aget(conversation=conversation)
    step = await RunStep.objects.aget(run=run, type=RunStep.Type.TOOL_CALLS)
    assert (step.tool_name, step.server_name, step.output, step.status) == ("add", "demo", "5", "completed")
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.content == answer

    first, second = fake.model_requests()
    assert "add" in first.tool_names
    assert first.tool_outputs == []
    assert second.tool_outputs == ["5"]


async def test_it_sends_the_assistant_settings(alice, conversation, demo_assistant, fake, api):
    demo_assistant.model = "fake-override"
    demo_assistant.temperature = 0.3
    demo_assistant.top_p = 0.8
    demo_assistant.max_output_tokens = 321
    demo_assistant.parallel_tool_calls = False
    await demo_assistant.asave()
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "settings please")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    [request] = fake.model_requests()
    body = request.body
    assert body["model"] == "fake-override"
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.8
    assert body["max_output_tokens" if api == "responses" else "max_tokens"] == 321
    assert body["parallel_tool_calls"] is False
    if api == "responses":
        assert body["instructions"] == "Be brief."
    else:
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    run = await Run.objects.aget(conversation=conversation)
    assert run.model == "fake-override"


async def test_it_retries_after_a_rate_limit(alice, conversation, provider, fake):
    await provider_set(provider, max_retries=2)
    fake.script(rate_limited(retry_after="0"))
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "hello again")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.completed"
    assert "".join(streamed(frames)).endswith("hello again")
    first, second = fake.model_requests()
    assert first.headers["x-stainless-retry-count"] == "0"
    assert second.headers["x-stainless-retry-count"] == "1"
    assert first.body == second.body


async def test_it_fails_with_a_provider_error_after_retrying_server_errors(alice, conversation, provider, fake):
    await provider_set(provider, max_retries=1)
    fake.always(server_error(500))
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "anyone there?")
    await ws.disconnect()

    error = last_error(frames)
    assert error == {"code": "provider_error", "message": "The provider failed with HTTP 500."}
    assert len(fake.model_requests()) == 2
    run = await Run.objects.aget(conversation=conversation)
    assert (run.status, run.last_error_code) == (Run.Status.FAILED, "provider_error")
    assert await Message.objects.filter(conversation=conversation, role="user", content="anyone there?").aexists()


async def test_it_reports_a_rejected_api_key(alice, conversation, provider, fake):
    await provider_set(provider, max_retries=2)
    fake.script(unauthorized())
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "hello")
    await ws.disconnect()

    assert last_error(frames) == {"code": "invalid_api_key", "message": "The provider rejected the API key."}
    assert len(fake.model_requests()) == 1  # a 401 is not retried
    run = await Run.objects.aget(conversation=conversation)
    assert (run.last_error_code, run.last_error) == ("invalid_api_key", "The provider rejected the API key.")


async def test_it_reports_an_unknown_model(alice, conversation, demo_assistant, fake):
    demo_assistant.model = "gpt-does-not-exist"
    await demo_assistant.asave()
    fake.script(model_not_found())
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "hello")
    await ws.disconnect()

    error = last_error(frames)
    assert error["code"] == "model_not_found"
    assert "gpt-does-not-exist" in error["message"]
    assert fake.model_requests()[0].model == "gpt-does-not-exist"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("after_deltas", [None, 2], ids=["before-headers", "mid-stream"])
async def test_it_times_out_a_stalled_provider(alice, conversation, provider, fake, after_deltas):
    await provider_set(provider, timeout=1, max_retries=0)
    fake.script(stall(30, after_deltas=after_deltas))
    ws = await ws_connect(conversation.pk, alice)
    started = time.monotonic()
    frames = await turn(ws, "are you there?", timeout=20)
    elapsed = time.monotonic() - started
    await ws.disconnect()

    assert last_error(frames) == {"code": "provider_timeout", "message": "The provider did not answer within 1 s."}
    assert elapsed < 10
    assert len(fake.model_requests()) == 1
    run = await Run.objects.aget(conversation=conversation)
    assert run.status == Run.Status.FAILED


@pytest.mark.timeout(60)
async def test_it_fails_a_cut_stream_and_takes_the_next_message(alice, conversation, fake):
    fake.script(cut(after_deltas=2, text="This answer will never be finished by the provider."))
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "first question", timeout=20)
    assert last_error(frames)["code"]
    # Deltas streamed before the cut stay, as an incomplete message (the SDK may drop the very last one).
    partial = "".join(streamed(frames))
    assert partial and "This answer will never be finished by the provider.".startswith(partial)
    failed = await Run.objects.aget(conversation=conversation)
    assert failed.status == Run.Status.FAILED
    message = await Message.objects.aget(run=failed, role="assistant")
    assert (message.status, message.content) == (Message.Status.INCOMPLETE, partial)
    assert await Message.objects.filter(conversation=conversation, role="user", content="first question").aexists()

    frames = await turn(ws, "second question", timeout=20)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"
    assert "".join(streamed(frames)).endswith("second question")
    assert fake.model_requests()[-1].user_texts[-1] == "second question"


@pytest.mark.timeout(60)
async def test_it_says_the_answer_broke_off_when_a_stream_is_cut(alice, conversation, fake):
    fake.script(cut(after_deltas=2))
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "tell me more", timeout=20)
    await ws.disconnect()

    assert last_error(frames) == {
        "code": "provider_error",
        "message": "The provider's answer broke off or could not be read.",
    }


async def test_it_never_leaks_the_api_key(alice, conversation, provider, fake, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "openai.agents", "httpx2", "httpcore2", "chat", "assistants", "mcp_servers"):
        caplog.set_level(logging.DEBUG, logger=name)
    await provider_set(provider, max_retries=1)
    fake.script(rate_limited())
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, '/add {"a": 2, "b": 3}')
    assert frames[-1]["event"] == "thread.run.completed"
    fake.script(unauthorized())
    frames += await turn(ws, "and now?")
    await ws.disconnect()

    assert frames[-1]["event"] == "thread.run.failed"
    requests = fake.model_requests()
    assert len(requests) == 4
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in requests)
    assert all(API_KEY not in json.dumps(f) for f in frames)
    async for run in Run.objects.filter(conversation=conversation):
        assert API_KEY not in run.last_error
    assert caplog.records  # the DEBUG logging was on
    assert API_KEY not in caplog.text
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(vars(record))


async def test_it_keeps_the_api_key_out_of_the_logs_when_the_provider_quotes_it(
    alice, conversation, provider, fake, caplog
):
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "openai.agents", "httpx2", "httpcore2", "chat", "assistants", "mcp_servers"):
        caplog.set_level(logging.DEBUG, logger=name)
    # Some OpenAI-compatible gateways quote the key they received in their 401 body.
    fake.script(error(401, f"Invalid API key: {API_KEY}", type="invalid_request_error", code="invalid_api_key"))
    ws = await ws_connect(conversation.pk, alice)
    frames = await turn(ws, "hello")
    await ws.disconnect()

    assert last_error(frames)["code"] == "invalid_api_key"
    assert all(API_KEY not in json.dumps(f) for f in frames)
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("style", list(APIS))
async def test_it_fakes_non_streamed_answers_too(fake, style):
    """The fake also answers without streaming, with usage, so other tests can rely on it."""
    client = AsyncOpenAI(api_key=API_KEY, base_url=fake.base_url, max_retries=0, timeout=10)
    parameters = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}
    ask = '/add {"a": 2, "b": 3}'
    if style == "chat_completions":
        tools = [{"type": "function", "function": {"name": "add", "parameters": parameters}}]
        messages = [{"role": "user", "content": ask}]
        first = await client.chat.completions.create(model="fake-model", messages=messages, tools=tools)
        call = first.choices[0].message.tool_calls[0]
        assert (call.function.name, json.loads(call.function.arguments)) == ("add", {"a": 2, "b": 3})
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "5"},
        ]
        second = await client.chat.completions.create(model="fake-model", messages=messages, tools=tools)
        answer, usage = second.choices[0].message.content, second.usage.total_tokens
    else:
        tools = [{"type": "function", "name": "add", "parameters": parameters, "strict": False}]
        items = [{"role": "user", "content": ask}]
        first = await client.responses.create(model="fake-model", input=items, tools=tools)
        call = first.output[0]
        assert (call.name, json.loads(call.arguments)) == ("add", {"a": 2, "b": 3})
        items += [
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "5"},
        ]
        second = await client.responses.create(model="fake-model", input=items, tools=tools)
        answer, usage = second.output_text, second.usage.total_tokens
    await client.close()

    assert "5" in answer
    assert usage == fake.requests[1].usage.total_tokens > 0
    assert [r.stream for r in fake.requests] == [False, False]
    assert fake.requests[1].tool_outputs == ["5"]
