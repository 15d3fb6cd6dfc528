"""A run's truncation_strategy and max_prompt_tokens through the official `openai` client, unchanged, against a live
Switchboard whose assistant's provider is the local OpenAI-speaking fake: what the fake was sent shows what the
model read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from chat.selectors import model_input_last_messages
from tests.fakes.openai_server import FakeOpenAIServer, Usage, auto, text, tool_call
from tests.live import Site, site_create

pytestmark = pytest.mark.timeout(180)

# An assistant of alice's on a provider that is the fake; prints its id.
VENDOR_ASSISTANT = """
from django.contrib.auth import get_user_model
from assistants.models import Assistant, Provider
provider = Provider.objects.create(
    name="Vendor", kind=Provider.Kind.OPENAI, api_style=Provider.ApiStyle.RESPONSES, base_url=%r,
    api_key="sk-test", default_model="fake-model", everyone=True, timeout=10, max_retries=0,
)
assistant = Assistant.objects.create(
    owner=get_user_model().objects.get(username="alice"), name="Vendor assistant", provider=provider,
    instructions="Be brief.",
)
print(assistant.pk)
"""
LOOKUP = {
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    # Many small threads in a minute: the per-user message rate is not what these tests are about.
    return site_create(tmp_path_factory.mktemp("switchboard-run-limits"), env={"RATE_MESSAGES_PER_MINUTE": "0"})


@pytest.fixture(scope="module")
def assistant_id(site: Site, fake: FakeOpenAIServer) -> str:
    return site.manage("shell", "-c", VENDOR_ASSISTANT % fake.base_url).strip().splitlines()[-1]


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeOpenAIServer) -> Iterator[None]:
    """Each test reads only its own requests, and scripts its own answers."""
    fake.always(auto())
    with fake._lock:
        fake.requests.clear()
        fake._script.clear()
    yield


def words(count: int, word: str) -> str:
    return " ".join([word] * count)


def _conversation(client: openai.OpenAI, *texts: str):
    """A thread of these messages: the user's, but for those that begin "A: " (the assistant's)."""
    messages = [
        {"role": "assistant", "content": content[3:]}
        if content.startswith("A: ")
        else {"role": "user", "content": content}
        for content in texts
    ]
    return client.beta.threads.create(messages=messages)


def test_it_keeps_the_tool_calls_that_follow_the_messages_it_keeps():
    call = {"type": "function_call", "call_id": "call_1", "name": "add", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "call_1", "output": "5"}
    q1, q2 = {"role": "user", "content": "q1"}, {"role": "user", "content": "q2"}
    a1, a2 = {"role": "assistant", "content": "a1"}, {"role": "assistant", "content": "a2"}
    items = [q1, a1, q2, call, output, a2]

    assert model_input_last_messages(items, 2) == [q2, call, output, a2]
    assert model_input_last_messages(items, 1) == [a2]
    assert model_input_last_messages(items, 3) == [a1, q2, call, output, a2]
    assert model_input_last_messages(items, 9) == model_input_last_messages(items, None) == items


def test_it_sends_the_model_only_the_last_messages(client, assistant_id, fake):
    thread = _conversation(client, "first question", "A: first answer", "second question")

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant_id,
        truncation_strategy={"type": "last_messages", "last_messages": 1},
    )

    assert run.status == "completed"
    assert (run.truncation_strategy.type, run.truncation_strategy.last_messages) == ("last_messages", 1)
    (request,) = fake.model_requests()
    assert [(item.kind, item.role, item.text) for item in request.items] == [("message", "user", "second question")]
    kept = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).truncation_strategy
    assert kept.last_messages == 1


def test_it_keeps_a_new_threads_last_messages(client, assistant_id, fake):
    thread = {"messages": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]}

    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id, thread=thread, truncation_strategy={"type": "last_messages", "last_messages": 1}
    )

    assert run.status == "completed" and run.truncation_strategy.last_messages == 1
    assert fake.model_requests()[0].user_texts == ["two"]


def test_it_reads_the_whole_thread_by_default(client, assistant_id, fake):
    thread = _conversation(client, "first question", "A: first answer", "second question")

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id)

    assert run.status == "completed"
    assert (run.truncation_strategy.type, run.max_prompt_tokens) == ("auto", None)
    assert fake.model_requests()[0].user_texts == ["first question", "second question"]


def test_it_drops_the_oldest_messages_so_the_input_fits_max_prompt_tokens(client, assistant_id, fake):
    thread = _conversation(client, words(150, "old"), words(150, "older"), words(150, "recent"), "the question")

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, max_prompt_tokens=300, truncation_strategy={"type": "auto"}
    )

    assert run.status == "completed"
    assert run.max_prompt_tokens == 300
    (request,) = fake.model_requests()
    assert [item.text for item in request.items] == [words(150, "recent"), "the question"]
    assert run.usage.prompt_tokens <= 300


def test_it_ends_a_run_incomplete_when_its_input_cannot_fit_max_prompt_tokens(client, assistant_id, fake):
    thread = _conversation(client, words(400, "long"))

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, max_prompt_tokens=256
    )

    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert run.max_prompt_tokens == 256
    assert fake.model_requests() == []  # the call that would not fit was never made


def test_it_ends_a_run_incomplete_when_a_calls_usage_passes_max_prompt_tokens(client, assistant_id, fake):
    fake.script(text("Fine.", usage=Usage(input_tokens=400, output_tokens=2)))
    thread = _conversation(client, "short")

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, max_prompt_tokens=256
    )

    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert run.usage.prompt_tokens == 400


def test_it_counts_max_prompt_tokens_over_the_runs_model_calls(client, assistant_id, fake):
    # The first call uses nearly all of the limit; the call after the function's output would pass it.
    fake.script(tool_call("lookup", {"word": "fox"}, usage=Usage(input_tokens=250, output_tokens=5)))
    thread = _conversation(client, "look up fox")

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant_id,
        tools=[{"type": "function", "function": LOOKUP}],
        max_prompt_tokens=256,
    )
    assert run.status == "requires_action"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": words(40, "fox")}]
    )

    assert done.status == "incomplete"
    assert done.incomplete_details.reason == "max_prompt_tokens"
    assert len(fake.model_requests()) == 1
    assert done.usage.prompt_tokens == 250


@pytest.mark.parametrize(
    ("limits", "param"),
    [
        ({"max_prompt_tokens": -5}, "max_prompt_tokens"),
        ({"max_prompt_tokens": "500"}, "max_prompt_tokens"),
        ({"max_prompt_tokens": 255}, "max_prompt_tokens"),
        ({"truncation_strategy": {"type": "last_messages", "last_messages": -1}}, "truncation_strategy.last_messages"),
        ({"truncation_strategy": {"type": "last_messages", "last_messages": "2"}}, "truncation_strategy.last_messages"),
        ({"truncation_strategy": {"type": "last_messages"}}, "truncation_strategy.last_messages"),
        ({"truncation_strategy": {"type": "middle"}}, "truncation_strategy.type"),
        ({"truncation_strategy": ["auto"]}, "truncation_strategy"),
    ],
)
def test_it_refuses_bad_limits_by_name_and_stores_no_run(client, assistant_id, fake, limits, param):
    thread = _conversation(client, "hello")

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id, **limits)

    assert caught.value.body["param"] == param
    assert client.beta.threads.runs.list(thread_id=thread.id).data == []
    with pytest.raises(openai.BadRequestError) as again:
        client.beta.threads.create_and_run(assistant_id=assistant_id, thread={}, **limits)
    assert again.value.body["param"] == param
    assert fake.model_requests() == []


def test_it_says_what_a_refused_limit_must_be(client, assistant_id):
    thread = _conversation(client, "hello")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id, max_prompt_tokens=-5)
    assert caught.value.body["message"] == "'max_prompt_tokens' must be at least 256."
    assert json.loads(caught.value.response.text)["error"]["type"] == "invalid_request_error"


# --- A run's own model --------------------------------------------------------------------------------------------


def test_it_asks_the_provider_for_the_model_a_run_names(client, assistant_id, fake):
    thread = _conversation(client, "hello")

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id, model="fake-bigger")

    assert (run.status, run.model) == ("completed", "fake-bigger")
    (request,) = fake.model_requests()
    assert request.body["model"] == "fake-bigger"


def test_it_refuses_a_run_model_that_is_no_model_name(client, assistant_id, fake):
    thread = _conversation(client, "hello")

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id, model="fake bigger")

    assert caught.value.body["param"] == "model"
    assert "letters, digits" in caught.value.body["message"]
    assert client.beta.threads.runs.list(thread_id=thread.id).data == []
    assert fake.model_requests() == []
