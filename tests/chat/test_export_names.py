"""Downloads are named after the conversation's title, safely; relative times say "just now" at first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from chat.exports import conversation_export_filename
from chat.models import Conversation

pytestmark = pytest.mark.django_db


def _conversation(alice, demo_assistant, title: str) -> Conversation:
    return Conversation.objects.create(owner=alice, assistant=demo_assistant, title=title)


def test_it_names_the_download_after_the_title(client, alice, demo_assistant):
    conversation = _conversation(alice, demo_assistant, "Plans for March")
    client.force_login(alice)
    response = client.get(reverse("chat:export_md", args=[conversation.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="Plans for March.md"'


def test_it_keeps_a_title_beyond_ascii_in_an_rfc_6266_name(client, alice, demo_assistant):
    conversation = _conversation(alice, demo_assistant, "Reise nach Zürich")
    client.force_login(alice)
    response = client.get(reverse("chat:export_json", args=[conversation.pk]))
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''Reise%20nach%20Z%C3%BCrich.json"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ('../../etc/passwd: "x"', "etc passwd x.md"),
        ("a\r\nContent-Type: text/html", "a Content-Type text html.md"),
        ("back\\slash|pipe*star?", "back slash pipe star.md"),
        ("  ...  ", None),
        ("", None),
        ("x" * 200, "x" * 80 + ".md"),  # the longest title a conversation keeps
    ],
)
def test_it_makes_any_title_a_safe_file_name(alice, demo_assistant, title, expected):
    conversation = _conversation(alice, demo_assistant, title)
    name = conversation_export_filename(conversation=conversation, extension="md")
    assert name == (expected or f"{conversation.pk}.md")


def test_it_says_just_now_for_what_happened_this_minute():
    template = Template("{% load core_tags %}{{ when|ago }}")
    assert template.render(Context({"when": timezone.now()})) == "just now"
    assert template.render(Context({"when": timezone.now() - timedelta(seconds=59)})) == "just now"
    assert template.render(Context({"when": timezone.now() - timedelta(minutes=5)})) == "5\xa0minutes ago"


def test_it_shows_just_now_on_the_conversation_list(client, alice, demo_assistant):
    _conversation(alice, demo_assistant, "Fresh")
    client.force_login(alice)
    page = client.get(reverse("chat:conversation_list")).content.decode()
    assert "just now" in page and "0\xa0minutes ago" not in page
