"""What the chat page shows about each message: who wrote an answer and with which model, its tokens, time and
cost, a link to its trace, the time each message was sent, and a Copy button."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message, Run
from chat.timeline import conversation_state, resync_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice, demo_assistant):
    return Conversation.objects.create(owner=alice, assistant=demo_assistant, title="Details")


def _turn(conversation: Conversation, *, status: str = "completed", answers: tuple[str, ...] = ("Hi there.",)) -> Run:
    started = timezone.now() - timedelta(seconds=3)
    run = conversation.runs.create(
        assistant=conversation.assistant,
        status=status,
        model="offline-large",
        started_at=started,
        completed_at=started + timedelta(milliseconds=1500) if status == "completed" else None,
        prompt_tokens=12,
        completion_tokens=5,
        total_tokens=17,
    )
    Message.objects.create(conversation=conversation, role="user", content="hello", run=run)
    for text in answers:
        Message.objects.create(conversation=conversation, role="assistant", content=text, run=run)
    return run


def _page(client, user, conversation: Conversation) -> str:
    client.force_login(user)
    return client.get(reverse("chat:conversation_detail", args=[conversation.pk])).content.decode()


def test_it_shows_who_wrote_an_answer_with_its_tokens_duration_and_trace(client, alice, conversation):
    run = _turn(conversation)

    page = _page(client, alice, conversation)

    assert '<span class="answer-model">offline-large</span>' in page
    assert "Demo assistant ·" in page
    assert 'title="12 prompt + 5 completion tokens">17 tokens</span>' in page
    assert '<span class="answer-duration" title="From the run’s start to its end">1.5 s</span>' in page
    trace = reverse("observability:run_trace", args=[conversation.pk, run.pk])
    assert f'<a class="answer-trace" href="{trace}">Trace</a>' in page


def test_it_shows_the_details_under_the_last_answer_of_a_run_only(conversation):
    _turn(conversation, answers=("Let me look.", "Found it."))

    entries = conversation_state(conversation=conversation)["entries"]

    details = [(entry["item"]["content"][0]["text"]["value"], bool(entry.get("details"))) for entry in entries]
    assert details == [("hello", False), ("Let me look.", False), ("Found it.", True)]


def test_it_shows_no_details_while_the_run_is_still_going(conversation):
    _turn(conversation, status="in_progress")

    entries = conversation_state(conversation=conversation)["entries"]

    assert all(not entry.get("details") for entry in entries)


def test_it_shows_the_cost_of_an_answer_only_when_it_has_one(client, alice, conversation):
    free = _turn(conversation)
    assert "answer-cost" not in _page(client, alice, conversation)

    Run.objects.filter(pk=free.pk).update(cost=Decimal("0.001200"))

    assert '<span class="answer-cost" title="At the provider’s price">cost 0.0012</span>' in _page(
        client, alice, conversation
    )


def test_it_gives_every_message_its_full_time_on_hover_and_a_copy_button(client, alice, conversation):
    _turn(conversation)
    sent = Message.objects.filter(conversation=conversation).first().created_at
    local = timezone.localtime(sent.replace(microsecond=0))

    page = _page(client, alice, conversation)

    assert page.count('data-action="copy-message"') == 2
    assert f'<time datetime="{local.isoformat()}" title="{local:%A} {local.day} {local:%B %Y, %H:%M:%S}' in page


def test_it_keeps_an_answers_markdown_source_for_copying(client, alice, conversation):
    _turn(conversation, answers=("Use **bold** & <b>tags</b>",))

    page = _page(client, alice, conversation)

    assert '<template class="message-source">Use **bold** &amp; &lt;b&gt;tags&lt;/b&gt;</template>' in page


def test_it_redraws_an_answer_with_its_details_once_its_run_ends(conversation):
    run = _turn(conversation, status="in_progress")
    during = resync_answer(conversation_id=conversation.pk, after=None)
    Run.objects.filter(pk=run.pk).update(status="completed", completed_at=timezone.now())

    after = resync_answer(conversation_id=conversation.pk, after=during["cursor"])

    before_html, after_html = during["entries"][-1]["html"], after["entries"][-1]["html"]
    assert 'data-sig="completed"' in before_html and "answer-tokens" not in before_html
    # A new signature makes the page swap the node it drew during the run for this one.
    assert 'data-sig="completed:done"' in after_html and "17 tokens" in after_html


def test_it_hides_another_users_answer_details(client, bob, conversation):
    _turn(conversation)
    client.force_login(bob)

    assert client.get(reverse("chat:conversation_detail", args=[conversation.pk])).status_code == 404
