"""Files on threads: tool_resources.file_search on thread create, modify and createAndRun; a message's attachments
(the thread's own store) and image files; file_search run steps with their results; file_citation annotations,
from the offline model and from a real one (the local OpenAI-speaking server) that cites by the result markers."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from assistants.models import Assistant, Provider
from chat.models import Conversation, Message, RunStep
from chat.selectors import conversation_model_input
from chat.services import run_wait
from core.tokens import token_create
from files.indexing import indexing_idle
from files.models import File, VectorStore
from files.services import file_create, vector_store_create
from tests.api.conftest import Api, AsyncApi, error_of
from tests.api.test_openapi_spec import conforms, schema_name
from tests.fakes.openai_server import FakeOpenAIServer, text, tool_call
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db(transaction=True)

PUMP = "The pump must be primed with distilled water before its first start."
WARRANTY = "The warranty lasts three years from the date of purchase."
# The smallest PNG there is: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
INCLUDE = "include[]=step_details.tool_calls[*].file_search.results[*].content"


async def _file(user, name: str, data: bytes | str) -> File:
    return await sync_to_async(file_create)(user=user, upload=upload(name, data), purpose="assistants")


async def _store(user, *files: File) -> VectorStore:
    store = await vector_store_create(user=user, name="Docs", file_ids=[file.pk for file in files])
    await indexing_idle()
    return store


async def _api(user) -> AsyncApi:
    return AsyncApi(AsyncClient(), (await sync_to_async(token_create)(user=user, name="test"))[1])


async def _assistant(api: AsyncApi, **fields) -> dict:
    created = await api.post("assistants", {"model": "offline", **fields})
    assert created.status_code == 200, created.content
    return created.json()


async def _answer(api: AsyncApi, user, thread_id: str, assistant_id: str) -> tuple[dict, dict]:
    """Run the thread; its answer and its run's steps."""
    run = (await api.post(f"threads/{thread_id}/runs", {"assistant_id": assistant_id})).json()
    finished = await run_wait(user=user, run_id=run["id"], timeout=60)
    assert finished.status == "completed", finished.last_error
    messages = (await api.get(f"threads/{thread_id}/messages?order=desc")).json()["data"]
    steps = (await api.get(f"threads/{thread_id}/runs/{run['id']}/steps?{INCLUDE}")).json()["data"]
    return messages[0], steps


def _citations(message: dict) -> list[str]:
    (part,) = [part for part in message["content"] if part["type"] == "text"]
    value = part["text"]["value"]
    for note in part["text"]["annotations"]:
        assert value[note["start_index"] : note["end_index"]] == note["text"]
    return [note["file_citation"]["file_id"] for note in part["text"]["annotations"] if note["type"] == "file_citation"]


@pytest.mark.asyncio
async def test_it_searches_the_stores_a_thread_is_created_with(alice, offline_provider):
    manual = await _file(alice, "manual.md", PUMP)
    store = await _store(alice, manual)
    api = await _api(alice)
    assistant = await _assistant(api, tools=[{"type": "file_search"}])
    created = await api.post(
        "threads",
        {
            "messages": [{"role": "user", "content": "/file_search prime the pump"}],
            "tool_resources": {"file_search": {"vector_store_ids": [store.pk]}},
        },
    )
    assert created.status_code == 200, created.content
    thread = created.json()
    assert thread["tool_resources"] == {"file_search": {"vector_store_ids": [store.pk]}}
    answer, steps = await _answer(api, alice, thread["id"], assistant["id"])
    assert _citations(answer) == [manual.pk]
    (step,) = [step for step in steps if step["type"] == "tool_calls"]
    assert step["status"] == "completed" and step["last_error"] is None
    call = step["step_details"]["tool_calls"][0]
    assert call["type"] == "file_search"
    (result,) = call["file_search"]["results"]
    assert (result["file_id"], result["file_name"]) == (manual.pk, "manual.md")
    assert result["content"] == [{"type": "text", "text": PUMP}]


@pytest.mark.asyncio
async def test_it_combines_the_assistants_stores_with_the_threads(alice, offline_provider):
    manual, warranty = await _file(alice, "manual.md", PUMP), await _file(alice, "warranty.md", WARRANTY)
    own, threads = await _store(alice, manual), await _store(alice, warranty)
    api = await _api(alice)
    assistant = await _assistant(
        api, tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [own.pk]}}
    )
    thread = (
        await api.post(
            "threads",
            {
                "messages": [{"role": "user", "content": "/file_search pump warranty years"}],
                "tool_resources": {"file_search": {"vector_store_ids": [threads.pk]}},
            },
        )
    ).json()
    answer, _ = await _answer(api, alice, thread["id"], assistant["id"])
    assert sorted(_citations(answer)) == sorted([manual.pk, warranty.pk])


@pytest.mark.asyncio
async def test_it_honours_max_num_results_and_the_score_threshold(alice, offline_provider):
    files = [await _file(alice, f"pump{n}.md", f"pump {'pump ' * n} notes number {n}") for n in range(4)]
    store = await _store(alice, *files)
    api = await _api(alice)
    ranking = {"ranker": "default_2024_08_21", "score_threshold": 0.0}
    few = await _assistant(
        api,
        tools=[{"type": "file_search", "file_search": {"max_num_results": 2, "ranking_options": ranking}}],
        tool_resources={"file_search": {"vector_store_ids": [store.pk]}},
    )
    strict = await _assistant(
        api,
        tools=[{"type": "file_search", "file_search": {"ranking_options": {**ranking, "score_threshold": 1.0}}}],
        tool_resources={"file_search": {"vector_store_ids": [store.pk]}},
    )
    for assistant, most in ((few, 2), (strict, 1)):
        thread = (await api.post("threads", {"messages": [{"role": "user", "content": "/file_search pump"}]})).json()
        _, steps = await _answer(api, alice, thread["id"], assistant["id"])
        (call,) = [step["step_details"]["tool_calls"][0] for step in steps if step["type"] == "tool_calls"]
        assert 1 <= len(call["file_search"]["results"]) <= most
        assert call["file_search"]["ranking_options"]["score_threshold"] == (0.0 if most == 2 else 1.0)


def test_it_refuses_another_users_store_on_a_new_thread(alice, bob, offline_provider):
    store = VectorStore.objects.create(owner=alice)
    api = Api(Client(), token_create(user=bob, name="test")[1])
    response = api.post(
        "threads",
        {
            "messages": [{"role": "user", "content": "hello"}],
            "tool_resources": {"file_search": {"vector_store_ids": [store.pk]}},
        },
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "tool_resources.file_search.vector_store_ids"
    assert store.pk in error_of(response)["message"]
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_it_changes_a_threads_stores_and_refuses_another_users(alice, bob, offline_provider):
    mine, alices = VectorStore.objects.create(owner=bob), VectorStore.objects.create(owner=alice)
    api = Api(Client(), token_create(user=bob, name="test")[1])
    thread = api.post("threads", {}).json()
    changed = api.post(f"threads/{thread['id']}", {"tool_resources": {"file_search": {"vector_store_ids": [mine.pk]}}})
    assert changed.status_code == 200, changed.content
    assert changed.json()["tool_resources"] == {"file_search": {"vector_store_ids": [mine.pk]}}
    refused = api.post(
        f"threads/{thread['id']}", {"tool_resources": {"file_search": {"vector_store_ids": [alices.pk]}}}
    )
    assert refused.status_code == 400
    assert error_of(refused)["param"] == "tool_resources.file_search.vector_store_ids"
    assert Conversation.objects.get(pk=thread["id"]).tool_resources == {"file_search": {"vector_store_ids": [mine.pk]}}
    assert api.get(f"threads/{thread['id']}").json()["tool_resources"]["file_search"]["vector_store_ids"] == [mine.pk]


def test_it_creates_and_runs_a_thread_with_tool_resources(alice, bob, offline_provider):
    store, alices = VectorStore.objects.create(owner=bob), VectorStore.objects.create(owner=alice)
    api = Api(Client(), token_create(user=bob, name="test")[1])
    assistant = api.post("assistants", {"model": "offline", "tools": [{"type": "file_search"}]}).json()
    refused = api.post(
        "threads/runs",
        {"assistant_id": assistant["id"], "tool_resources": {"file_search": {"vector_store_ids": [alices.pk]}}},
    )
    assert refused.status_code == 400 and not Conversation.objects.exists()
    run = api.post(
        "threads/runs",
        {
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": "hi"}]},
            "tool_resources": {"file_search": {"vector_store_ids": [store.pk]}},
        },
    )
    assert run.status_code == 200, run.content
    thread = Conversation.objects.get(pk=run.json()["thread_id"])
    assert thread.tool_resources == {"file_search": {"vector_store_ids": [store.pk]}}


@pytest.mark.asyncio
async def test_it_searches_a_messages_attachments_in_the_threads_own_store(alice, offline_provider):
    manual = await _file(alice, "manual.md", PUMP)
    api = await _api(alice)
    assistant = await _assistant(api)  # no file_search of its own: the thread's files are searched all the same
    thread = (await api.post("threads", {})).json()
    posted = await api.post(
        f"threads/{thread['id']}/messages",
        {
            "role": "user",
            "content": "/file_search distilled water",
            "attachments": [{"file_id": manual.pk, "tools": [{"type": "file_search"}]}],
        },
    )
    assert posted.status_code == 200, posted.content
    assert posted.json()["attachments"] == [{"file_id": manual.pk, "tools": [{"type": "file_search"}]}]
    (store_id,) = (await api.get(f"threads/{thread['id']}")).json()["tool_resources"]["file_search"]["vector_store_ids"]
    store = await VectorStore.objects.aget(pk=store_id)
    assert store.owner_id == alice.pk and store.expires_after == {"anchor": "last_active_at", "days": 7}
    answer, _ = await _answer(api, alice, thread["id"], assistant["id"])
    assert _citations(answer) == [manual.pk]


@pytest.mark.asyncio
async def test_it_refuses_another_users_file_as_an_attachment(alice, bob, offline_provider):
    theirs = await _file(alice, "manual.md", PUMP)
    api = await _api(bob)
    thread = (await api.post("threads", {})).json()
    for body in (
        {"role": "user", "content": "look", "attachments": [{"file_id": theirs.pk}]},
        {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": theirs.pk}}]},
    ):
        refused = await api.post(f"threads/{thread['id']}/messages", body)
        assert refused.status_code == 404, refused.content
    assert not await Message.objects.filter(conversation_id=thread["id"]).aexists()
    assert not await VectorStore.objects.filter(owner=bob).aexists()
    assert (await Conversation.objects.aget(pk=thread["id"])).tool_resources == {}


@pytest.mark.asyncio
async def test_it_takes_image_files_and_refuses_a_document_as_one(alice, offline_provider):
    image, manual = await _file(alice, "dot.png", PNG), await _file(alice, "manual.md", PUMP)
    assert image.content_type == "image/png"
    api = await _api(alice)
    thread = (await api.post("threads", {})).json()
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_file", "image_file": {"file_id": image.pk}}]
    posted = await api.post(f"threads/{thread['id']}/messages", {"role": "user", "content": content})
    assert posted.status_code == 200, posted.content
    assert posted.json()["content"][1] == {"type": "image_file", "image_file": {"file_id": image.pk, "detail": "auto"}}
    refused = await api.post(
        f"threads/{thread['id']}/messages",
        {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": manual.pk}}]},
    )
    assert refused.status_code == 400 and "not an image" in error_of(refused)["message"]
    (item,) = await sync_to_async(conversation_model_input)(conversation_id=thread["id"])
    assert item["content"][0] == {"type": "input_text", "text": "What is this?"}
    assert item["content"][1]["type"] == "input_image"
    assert item["content"][1]["image_url"].startswith("data:image/png;base64,iVBORw0KGgo")


def test_it_refuses_a_png_that_is_not_one(alice):
    api = Api(Client(), token_create(user=alice, name="test")[1])
    response = api.client.post(
        "/v1/files",
        {"purpose": "assistants", "file": upload("fake.png", b"just some text")},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 400 and "not a PNG" in error_of(response)["message"]
    assert not File.objects.exists()


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.mark.parametrize("api_style", [Provider.ApiStyle.RESPONSES, Provider.ApiStyle.CHAT_COMPLETIONS])
@pytest.mark.asyncio
async def test_a_real_model_cites_by_the_markers_and_sees_images(alice, fake, api_style):
    provider = await Provider.objects.acreate(
        name=f"Vendor {api_style}",
        kind=Provider.Kind.OPENAI_COMPATIBLE,
        api_style=api_style,
        base_url=fake.base_url,
        api_key="sk-test",
        default_model="fake-model",
        max_retries=0,
    )
    manual, image = await _file(alice, "manual.md", PUMP), await _file(alice, "dot.png", PNG)
    store = await _store(alice, manual)
    assistant = await Assistant.objects.acreate(
        owner=alice,
        name="Reader",
        provider=provider,
        file_search={},
        tool_resources={"file_search": {"vector_store_ids": [store.pk]}},
    )
    fake.script(
        tool_call("file_search", json.dumps({"query": "prime the pump"})),
        text("Prime it with distilled water 【0:0†manual.md】, not 【9:9†nothing.md】."),
    )
    api = await _api(alice)
    thread = (await api.post("threads", {})).json()
    content = [
        {"type": "text", "text": "How do I start the pump?"},
        {"type": "image_file", "image_file": {"file_id": image.pk}},
    ]
    assert (await api.post(f"threads/{thread['id']}/messages", {"role": "user", "content": content})).status_code == 200
    answer, _ = await _answer(api, alice, thread["id"], assistant.pk)
    assert _citations(answer) == [manual.pk]  # the marker no result had stays text
    first, second = fake.requests[-2:]
    tool = next(t for t in first.body["tools"] if (t.get("function") or t).get("name") == "file_search")
    assert "marker" in (tool.get("function") or tool)["description"]
    found = json.loads(second.tool_outputs[0])
    assert found["results"][0]["marker"] == "【0:0†manual.md】" and found["results"][0]["file_id"] == manual.pk
    if api_style == Provider.ApiStyle.RESPONSES:
        (user,) = [item for item in first.body["input"] if item.get("role") == "user"]
        assert [part["type"] for part in user["content"]] == ["input_text", "input_image"]
        assert user["content"][1]["image_url"].startswith("data:image/png;base64,")
    else:
        (user,) = [message for message in first.body["messages"] if message["role"] == "user"]
        assert [part["type"] for part in user["content"]] == ["text", "image_url"]
        assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    step = await RunStep.objects.aget(run__conversation_id=thread["id"], type="tool_calls")
    assert step.tool_name == "file_search"


@pytest.mark.asyncio
async def test_its_objects_are_the_ones_openais_spec_describes(alice, offline_provider):
    manual, image = await _file(alice, "manual.md", PUMP), await _file(alice, "dot.png", PNG)
    api = await _api(alice)
    assistant = await _assistant(api, tools=[{"type": "file_search"}])
    thread = (await api.post("threads", {})).json()
    content = [
        {"type": "text", "text": "/file_search distilled water"},
        {"type": "image_file", "image_file": {"file_id": image.pk}},
    ]
    question = await api.post(
        f"threads/{thread['id']}/messages",
        {
            "role": "user",
            "content": content,
            "attachments": [{"file_id": manual.pk, "tools": [{"type": "file_search"}]}],
        },
    )
    answer, steps = await _answer(api, alice, thread["id"], assistant["id"])
    conforms((await api.get(f"threads/{thread['id']}")).json(), schema_name("ThreadObject"))
    conforms(question.json(), schema_name("MessageObject"))
    conforms(answer, schema_name("MessageObject"))
    assert _citations(answer) == [manual.pk]
    (step,) = [step for step in steps if step["type"] == "tool_calls"]
    conforms(step, schema_name("RunStepObject"))
    conforms(step["step_details"]["tool_calls"][0], schema_name("RunStepDetailsToolCallsFileSearchObject"))


@pytest.mark.asyncio
async def test_it_searches_the_attachments_a_thread_is_created_with(alice, bob, offline_provider):
    manual = await _file(alice, "manual.md", PUMP)
    api = await _api(alice)
    assistant = await _assistant(api, tools=[{"type": "file_search"}])
    message = {
        "role": "user",
        "content": "/file_search distilled water",
        "attachments": [{"file_id": manual.pk, "tools": [{"type": "file_search"}]}],
    }
    refused = await (await _api(bob)).post("threads", {"messages": [message]})
    assert refused.status_code == 404 and not await Conversation.objects.aexists()
    thread = (await api.post("threads", {"messages": [message]})).json()
    (store_id,) = thread["tool_resources"]["file_search"]["vector_store_ids"]
    await indexing_idle()
    assert (await VectorStore.objects.aget(pk=store_id)).owner_id == alice.pk
    answer, _ = await _answer(api, alice, thread["id"], assistant["id"])
    assert _citations(answer) == [manual.pk]
    run = await api.post("threads/runs", {"assistant_id": assistant["id"], "thread": {"messages": [message]}})
    assert run.status_code == 200, run.content
    finished = await run_wait(user=alice, run_id=run.json()["id"], timeout=60)
    assert finished.status == "completed", finished.last_error
    cited = await Message.objects.filter(conversation_id=run.json()["thread_id"], role="assistant").alast()
    assert [note["file_citation"]["file_id"] for note in cited.annotations] == [manual.pk]


@pytest.mark.asyncio
async def test_a_run_takes_its_own_file_search_tool(alice, offline_provider):
    files = [await _file(alice, f"pump{n}.md", f"pump notes number {n}") for n in range(3)]
    store = await _store(alice, *files)
    api = await _api(alice)
    assistant = await _assistant(api, tool_resources={"file_search": {"vector_store_ids": [store.pk]}})
    thread = (await api.post("threads", {"messages": [{"role": "user", "content": "/file_search pump"}]})).json()
    tool = {"type": "file_search", "file_search": {"max_num_results": 1}}
    created = await api.post(f"threads/{thread['id']}/runs", {"assistant_id": assistant["id"], "tools": [tool]})
    assert created.status_code == 200, created.content
    assert created.json()["tools"] == [
        {
            "type": "file_search",
            "file_search": {"max_num_results": 1, "ranking_options": {"ranker": "auto", "score_threshold": 0.0}},
        }
    ]
    conforms(created.json(), schema_name("RunObject"))
    finished = await run_wait(user=alice, run_id=created.json()["id"], timeout=60)
    assert finished.status == "completed", finished.last_error
    steps = (await api.get(f"threads/{thread['id']}/runs/{created.json()['id']}/steps")).json()["data"]
    (call,) = [step["step_details"]["tool_calls"][0] for step in steps if step["type"] == "tool_calls"]
    assert len(call["file_search"]["results"]) == 1
    refused = await api.post(f"threads/{thread['id']}/runs", {"assistant_id": assistant["id"], "tools": [tool, tool]})
    assert refused.status_code == 400 and error_of(refused)["param"] == "tools[1]"
