"""Files on the pages: the chat page's uploads (owner only), a message sent over the socket with files (chips,
a thumbnail, the answer's sources on its entry), and an assistant's knowledge files on its page."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from assistants.models import Assistant
from chat.models import Conversation, Message
from files.indexing import indexing_idle
from files.models import File, VectorStore, VectorStoreFile
from tests.files.conftest import upload
from tests.files.test_thread_files import PNG, PUMP
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("thread.run.completed", "thread.run.failed")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_uploads_a_file_for_its_owner_only(alice, bob):
    posted = _client(alice).post("/files/", {"file": upload("manual.md", PUMP)})
    assert posted.status_code == 200, posted.content
    file = posted.json()
    assert (file["filename"], file["content_type"]) == ("manual.md", "text/markdown")
    assert _client(alice).get(f"/files/{file['id']}/").json()["filename"] == "manual.md"
    download = _client(alice).get(f"/files/{file['id']}/content/")
    assert b"".join(download.streaming_content) == PUMP.encode()
    assert download["Content-Disposition"].startswith("attachment")
    for path in (f"/files/{file['id']}/", f"/files/{file['id']}/content/"):
        assert _client(bob).get(path).status_code == 404
    assert Client().get(f"/files/{file['id']}/").status_code == 302  # to the login page


def test_it_shows_an_image_inline_and_refuses_a_bad_upload(alice):
    image = _client(alice).post("/files/", {"file": upload("dot.png", PNG)}).json()
    shown = _client(alice).get(f"/files/{image['id']}/content/")
    assert shown["Content-Type"] == "image/png" and shown["Content-Disposition"].startswith("inline")
    assert shown["X-Content-Type-Options"] == "nosniff"
    refused = _client(alice).post("/files/", {"file": upload("evil.pdf", b"<script>alert(1)</script>")})
    assert refused.status_code == 400 and "not a PDF" in refused.json()["error"]["message"]
    assert File.objects.count() == 1


@pytest.mark.asyncio
async def test_a_message_sent_with_files_shows_them_and_cites_them(alice, demo_assistant):
    client = await sync_to_async(_client)(alice)
    manual = (await sync_to_async(client.post)("/files/", {"file": upload("manual.md", PUMP)})).json()
    image = (await sync_to_async(client.post)("/files/", {"file": upload("dot.png", PNG)})).json()
    conversation = await Conversation.objects.acreate(owner=alice, assistant=demo_assistant)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to(
        {"type": "message.create", "content": "/file_search distilled water", "file_ids": [manual["id"], image["id"]]}
    )
    frames = await collect_until(ws, *TERMINAL, timeout=60)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    question = next(f for f in frames if f["event"] == "thread.message.created" and f["data"]["role"] == "user")
    assert question["data"]["attachments"] == [{"file_id": manual["id"], "tools": [{"type": "file_search"}]}]
    assert f'class="file-chip" data-file-id="{manual["id"]}"' in question["entry"]["html"]
    assert f'src="/files/{image["id"]}/content/"' in question["entry"]["html"]
    answer = next(f for f in frames if f["event"] == "thread.message.completed")
    assert "Sources:" in answer["entry"]["html"] and ">manual.md</a>" in answer["entry"]["html"]
    card = next(
        f
        for f in frames
        if f["event"] == "thread.run.step.completed" and "tool-card" in f.get("entry", {}).get("html", "")
    )
    assert "file_search" in card["entry"]["html"] and "manual.md (score" in card["entry"]["html"]
    page = await sync_to_async(client.get)(f"/conversations/{conversation.pk}/")  # and after a reload
    assert ">manual.md</a>" in page.content.decode() and f'src="/files/{image["id"]}/content/"' in page.content.decode()
    stored = await Message.objects.aget(conversation=conversation, role="user")
    assert stored.image_file_ids == [image["id"]]


@pytest.mark.asyncio
async def test_a_message_with_another_users_file_is_refused_on_the_socket(alice, bob, demo_assistant):
    client = await sync_to_async(_client)(alice)
    theirs = (await sync_to_async(client.post)("/files/", {"file": upload("manual.md", PUMP)})).json()
    conversation = await Conversation.objects.acreate(owner=bob, assistant=demo_assistant)
    ws = await ws_connect(conversation.pk, bob)
    await ws.send_json_to({"type": "message.create", "content": "look", "file_ids": [theirs["id"]]})
    (frame,) = await collect_until(ws, "error")
    await ws.disconnect()
    assert frame["data"]["code"] == "not_found"
    assert not await Message.objects.filter(conversation=conversation).aexists()


def test_an_owner_gives_an_assistant_knowledge_files(alice, bob, offline_provider):
    assistant = Assistant.objects.create(owner=alice, name="Reader", provider=offline_provider)
    client = _client(alice)
    added = client.post(f"/assistants/{assistant.pk}/knowledge", {"files": [upload("manual.md", PUMP)]})
    assert added.status_code == 302
    assistant.refresh_from_db()
    (store_id,) = assistant.tool_resources["file_search"]["vector_store_ids"]
    assert assistant.file_search == {}
    entry = VectorStoreFile.objects.get(vector_store_id=store_id)
    assert entry.file.filename == "manual.md" and entry.vector_store.owner == alice
    page = client.get(f"/assistants/{assistant.pk}/").content.decode()
    assert "Knowledge" in page and "manual.md" in page
    assert (
        _client(bob).post(f"/assistants/{assistant.pk}/knowledge", {"files": [upload("x.md", "x")]}).status_code == 404
    )
    refused = client.post(
        f"/assistants/{assistant.pk}/knowledge", {"files": [upload("more.md", "more"), upload("fake.pdf", "no")]}
    )
    assert refused.status_code == 302
    assert list(File.objects.values_list("filename", flat=True)) == ["manual.md"]  # nothing of the refused upload
    removed = client.post(f"/assistants/{assistant.pk}/knowledge/{entry.file_id}/remove")
    assert removed.status_code == 302 and not VectorStoreFile.objects.exists()
    assert File.objects.filter(pk=entry.file_id).exists()


@pytest.mark.asyncio
async def test_an_assistants_knowledge_is_searched_in_its_conversations(alice, offline_provider):
    assistant = await Assistant.objects.acreate(owner=alice, name="Reader", provider=offline_provider)
    client = await sync_to_async(_client)(alice)
    await sync_to_async(client.post)(f"/assistants/{assistant.pk}/knowledge", {"files": [upload("manual.md", PUMP)]})
    await indexing_idle()
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    ws = await ws_connect(conversation.pk, alice)
    await ws.send_json_to({"type": "message.create", "content": "/file_search distilled water"})
    frames = await collect_until(ws, *TERMINAL, timeout=60)
    await ws.disconnect()
    answer = next(f["data"] for f in frames if f["event"] == "thread.message.completed")
    (note,) = answer["content"][0]["text"]["annotations"]
    manual = await File.objects.aget(filename="manual.md")
    assert note["file_citation"]["file_id"] == manual.pk
    assert await VectorStore.objects.filter(owner=alice).acount() == 1


@pytest.mark.asyncio
async def test_the_input_a_run_starts_from_holds_its_messages_images_as_stored(alice, offline_provider, monkeypatch):
    # The branch the message store reads carries the model's input to the run (no second read of the messages);
    # the message's images are attached after that read, and must be in it all the same.
    from chat import services
    from chat.executor import Executor
    from chat.selectors import conversation_model_input

    client = await sync_to_async(_client)(alice)
    image = (await sync_to_async(client.post)("/files/", {"file": upload("dot.png", PNG)})).json()
    assistant = await Assistant.objects.acreate(name="Plain", provider=offline_provider, instructions="Be brief.")
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    await services.message_create(user=alice, conversation_id=conversation.pk, content="earlier", answer=False)
    handed = {}
    monkeypatch.setattr(Executor, "submit", lambda self, run_id, **kwargs: handed.update(kwargs))
    await services.message_create(
        user=alice, conversation_id=conversation.pk, content="what is this?", answer=True, file_ids=[image["id"]]
    )
    carried = await sync_to_async(conversation_model_input)(conversation_id=conversation.pk, branch=handed["branch"])
    read = await sync_to_async(conversation_model_input)(conversation_id=conversation.pk)
    assert carried == read
    assert [item["role"] for item in read] == ["user", "user"]
    assert any(part.get("type") == "input_image" for part in read[-1]["content"]), read[-1]
