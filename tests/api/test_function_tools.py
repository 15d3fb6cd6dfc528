"""Function tools through the official `openai` client, unchanged, against a live Switchboard: the run stops at
`requires_action`, the program runs its function and submits the output, the run goes on. The offline model
calls a function as it calls an MCP tool (`/<name> {json}`), so none of this needs a key.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
from openai.lib.streaming import AssistantEventHandler

from tests.live import Site, site_create

pytestmark = pytest.mark.timeout(180)

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city now.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    # Unanswered runs expire quickly here, so the expiry test need not wait ten minutes.
    return site_create(
        tmp_path_factory.mktemp("switchboard-functions"),
        env={"RUN_REQUIRES_ACTION_SECONDS": "3", "RUN_HEARTBEAT_SECONDS": "0.5"},
    )


@pytest.fixture(scope="module")
def assistant(client: openai.OpenAI):
    return client.beta.assistants.create(
        model="offline",
        name="Functions",
        tools=[{"type": "function", "function": WEATHER}, {"type": "mcp", "server_label": "demo"}],
    )


def _thread(client: openai.OpenAI, text: str):
    return client.beta.threads.create(messages=[{"role": "user", "content": text}])


def test_it_keeps_the_assistants_function_tools(client, assistant):
    tools = [tool.model_dump(exclude_none=True) for tool in client.beta.assistants.retrieve(assistant.id).tools]
    assert {"type": "function", "function": WEATHER} in tools
    assert {"type": "mcp", "server_label": "demo"} in tools


def test_it_waits_for_a_functions_output_and_goes_on_with_it(client, assistant):
    thread = _thread(client, '/get_weather {"city": "Paris"}')

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)

    assert run.status == "requires_action"
    assert 0 < run.expires_at - run.created_at <= 30  # RUN_REQUIRES_ACTION_SECONDS after it paused
    assert run.required_action.type == "submit_tool_outputs"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert {"type": "function", "function": WEATHER} in [t.model_dump(exclude_none=True) for t in run.tools]

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "Sunny, 21 °C"}]
    )

    assert done.status == "completed"
    answer = client.beta.threads.messages.list(thread.id, order="desc").data[0]
    assert "Sunny, 21 °C" in answer.content[0].text.value
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    tool_step = next(step for step in steps if step.type == "tool_calls")
    assert tool_step.status == "completed"
    assert tool_step.step_details.tool_calls[0].function.output == "Sunny, 21 °C"


class Submitter(AssistantEventHandler):
    """Runs the function when the stream says the run needs it, and streams the rest, as OpenAI's guide does."""

    def __init__(self, client: openai.OpenAI, thread_id: str) -> None:
        super().__init__()
        self.client, self.thread_id = client, thread_id
        self.created: list[str] = []
        self.text: list[str] = []
        self.texts_created = 0
        self.final_status = ""

    def on_text_created(self, text) -> None:
        self.texts_created += 1

    def on_tool_call_created(self, tool_call) -> None:
        self.created.append(tool_call.function.name)

    def on_text_delta(self, delta, snapshot) -> None:
        self.text.append(delta.value or "")

    def on_event(self, event) -> None:
        if event.event == "thread.run.requires_action":
            run = event.data
            outputs = [
                {"tool_call_id": call.id, "output": f"Rain in {json.loads(call.function.arguments)['city']}"}
                for call in run.required_action.submit_tool_outputs.tool_calls
            ]
            with self.client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=self.thread_id,
                run_id=run.id,
                tool_outputs=outputs,
                event_handler=Submitter(self.client, self.thread_id),
            ) as stream:
                stream.until_done()
                self.text.extend(stream.text)
                self.texts_created += stream.texts_created
                self.final_status = stream.current_run.status


def test_it_streams_to_requires_action_and_on_from_the_submitted_output(client, assistant):
    thread = _thread(client, '/get_weather {"city": "Oslo"}')
    handler = Submitter(client, thread.id)

    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id, event_handler=handler) as s:
        s.until_done()

    assert handler.created == ["get_weather"]
    assert handler.final_status == "completed"
    assert handler.texts_created == 1  # the answer's text began once, at its first delta
    assert "Rain in Oslo" in "".join(handler.text)


def test_it_runs_a_turn_of_both_kinds(client, assistant):
    # The run's own tools replace the assistant's functions; its MCP servers stay.
    thread = _thread(client, '/add {"a": 2, "b": 3}')
    first = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, tools=[{"type": "function", "function": WEATHER}]
    )
    assert first.status == "completed"  # the MCP tool ran on the server, nothing to submit
    client.beta.threads.messages.create(thread.id, role="user", content='/get_weather {"city": "Rome"}')
    second = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert second.status == "requires_action"
    call = second.required_action.submit_tool_outputs.tool_calls[0]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=second.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "Hot"}]
    )
    assert done.status == "completed"


def test_it_refuses_outputs_for_calls_it_does_not_wait_for(client, assistant):
    thread = _thread(client, '/get_weather {"city": "Lima"}')
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    call = run.required_action.submit_tool_outputs.tool_calls[0]

    with pytest.raises(openai.BadRequestError) as unknown:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_nope", "output": "x"}]
        )
    assert "not waiting for tool call 'call_nope'" in unknown.value.body["message"]
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "requires_action"

    client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "Mild"}]
    )
    with pytest.raises(openai.APIStatusError) as answered:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "again"}]
        )
    assert answered.value.status_code == 409


def test_it_refuses_a_function_whose_parameters_are_not_json_schema(client):
    bad = {"name": "broken", "parameters": {"type": "object", "properties": {"x": {"type": 12}}}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="offline", tools=[{"type": "function", "function": bad}])
    assert caught.value.body["param"] == "tools[0].function"
    assert "not a valid JSON Schema" in caught.value.body["message"]


def test_it_expires_a_run_nobody_answers(client, assistant):
    thread = _thread(client, '/get_weather {"city": "Bern"}')
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    deadline = time.monotonic() + 30
    while run.status == "requires_action" and time.monotonic() < deadline:
        time.sleep(0.5)
        run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "expired"
    assert run.last_error.code == "expired"


# --- Structured output and run settings --------------------------------------------------------------------------

PERSON = {
    "name": "person",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array"}},
        "required": ["name", "age", "tags"],
        "additionalProperties": False,
    },
}


def test_it_answers_json_that_fits_the_runs_schema(client, assistant):
    thread = _thread(client, "Who wrote Faust?")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        response_format={"type": "json_schema", "json_schema": PERSON},
        temperature=0.3,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    assert run.status == "completed"
    assert run.response_format.type == "json_schema" and run.response_format.json_schema.name == "person"
    assert (run.temperature, run.parallel_tool_calls) == (0.3, False)
    assert run.tool_choice.function.name == "get_weather"
    answer = json.loads(client.beta.threads.messages.list(thread.id, order="desc").data[0].content[0].text.value)
    assert set(answer) == {"name", "age", "tags"}
    assert isinstance(answer["age"], int) and isinstance(answer["tags"], list)


def test_it_keeps_an_assistants_json_object_format(client):
    json_assistant = client.beta.assistants.create(model="offline", response_format={"type": "json_object"})
    assert json_assistant.response_format.type == "json_object"
    thread = _thread(client, "hello")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=json_assistant.id)
    assert run.status == "completed"
    answer = client.beta.threads.messages.list(thread.id, order="desc").data[0].content[0].text.value
    assert isinstance(json.loads(answer), dict)


def test_it_ends_a_run_incomplete_at_its_max_completion_tokens(client, assistant):
    # The answer quotes the tool's output whole: longer than the run may write.
    thread = _thread(client, "/echo " + json.dumps({"message": " ".join(["word"] * 300)}))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=256
    )
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 256
    assert run.max_completion_tokens == 256


def test_it_refuses_a_response_format_that_is_not_json_schema(client, assistant):
    thread = _thread(client, "hello")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(
            thread_id=thread.id,
            assistant_id=assistant.id,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nope"}}},
        )
    assert caught.value.body["param"] == "response_format"
    assert not client.beta.threads.runs.list(thread_id=thread.id).data
