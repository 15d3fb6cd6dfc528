"""The file_search tool: assistants that take it with their vector stores, a run that searches them, and the
search itself on the database's full-text index."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from assistants.models import Assistant
from chat.models import Conversation, Message, RunStep
from chat.services import run_wait
from core.tokens import token_create
from files.indexing import indexing_idle
from files.models import VectorStore
from files.services import file_create, vector_store_create, vector_store_search
from tests.api.conftest import Api, AsyncApi, error_of
from tests.files.conftest import pdf_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)

CORPUS = {
    "reactor.pdf": pdf_bytes("The experimental reactor runs on molten thorium salts at low pressure."),
    "garden.md": "# Garden\nTomatoes need full sun and deep watering twice a week.",
    "bakery.txt": "Sourdough bread rises overnight in a cool kitchen before it is baked.",
}


async def _store(user, corpus: dict = CORPUS) -> tuple[VectorStore, dict[str, str]]:
    ids = {}
    for name, data in corpus.items():
        file = await sync_to_async(file_create)(user=user, upload=upload(name, data), purpose="assistants")
        ids[name] = file.pk
    store = await vector_store_create(user=user, name="Docs", file_ids=list(ids.values()))
    await indexing_idle()
    return store, ids


@pytest.mark.asyncio
async def test_it_finds_the_chunk_that_answers_a_question(alice):
    store, ids = await _store(alice)
    results = await sync_to_async(vector_store_search)(
        user_id=alice.pk, vector_store_ids=[store.pk], query="What does the reactor run on?"
    )
    assert results[0].file_id == ids["reactor.pdf"]
    assert "thorium" in results[0].text
    results = await sync_to_async(vector_store_search)(
        user_id=alice.pk, vector_store_ids=[store.pk], query="how often to water tomatoes"
    )
    assert results[0].file_id == ids["garden.md"]


@pytest.mark.asyncio
async def test_it_searches_only_the_users_own_stores(alice, bob):
    store, _ = await _store(alice)
    assert await sync_to_async(vector_store_search)(user_id=bob.pk, vector_store_ids=[store.pk], query="thorium") == []


@pytest.mark.asyncio
async def test_it_answers_with_the_chunks_found_through_the_offline_model(alice, offline_provider):
    store, ids = await _store(alice)
    api = AsyncApi(AsyncClient(), (await sync_to_async(token_create)(user=alice, name="test"))[1])
    created = await api.post(
        "assistants",
        {
            "model": "offline",
            "tools": [{"type": "file_search", "file_search": {"max_num_results": 2}}],
            "tool_resources": {"file_search": {"vector_store_ids": [store.pk]}},
        },
    )
    assert created.status_code == 200, created.content
    assistant = created.json()
    assert assistant["tools"] == [
        {
            "type": "file_search",
            "file_search": {"max_num_results": 2, "ranking_options": {"ranker": "auto", "score_threshold": 0.0}},
        }
    ]
    assert assistant["tool_resources"] == {"file_search": {"vector_store_ids": [store.pk]}}
    thread = await Conversation.objects.acreate(owner=alice)
    await Message.objects.acreate(conversation=thread, role="user", content="/file_search molten thorium reactor")
    run = (await api.post(f"threads/{thread.pk}/runs", {"assistant_id": assistant["id"]})).json()
    finished = await run_wait(user=alice, run_id=run["id"], timeout=30)
    assert finished.status == "completed", finished.last_error
    step = await RunStep.objects.aget(run_id=run["id"], type="tool_calls")
    assert step.tool_name == "file_search"
    answer = await Message.objects.filter(conversation=thread, role="assistant").alast()
    assert "thorium" in answer.content
    (citation,) = answer.annotations
    assert citation["type"] == "file_citation" and citation["file_citation"] == {"file_id": ids["reactor.pdf"]}
    assert answer.content[citation["start_index"] : citation["end_index"]] == citation["text"] == "【0:0†reactor.pdf】"


def test_it_refuses_another_users_vector_store_in_tool_resources(alice, bob, offline_provider):
    store = VectorStore.objects.create(owner=alice)
    api = Api(Client(), token_create(user=bob, name="test")[1])
    response = api.post(
        "assistants",
        {
            "model": "offline",
            "tools": [{"type": "file_search"}],
            "tool_resources": {"file_search": {"vector_store_ids": [store.pk]}},
        },
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "tool_resources.file_search.vector_store_ids"
    assert not Assistant.objects.exists()


def test_it_refuses_a_bad_file_search_tool(alice, offline_provider):
    api = Api(Client(), token_create(user=alice, name="test")[1])
    response = api.post(
        "assistants", {"model": "offline", "tools": [{"type": "file_search", "file_search": {"max_num_results": 0}}]}
    )
    assert error_of(response)["param"] == "tools[0].file_search.max_num_results"
    assert not Assistant.objects.exists()
