from __future__ import annotations

import pytest

from assistants.models import Assistant, Provider
from chat.models import Conversation
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def vendor(db, fake) -> Provider:
    """An OpenAI provider served by the local OpenAI-speaking server."""
    return Provider.objects.create(
        name="Vendor", kind=Provider.Kind.OPENAI, base_url=fake.base_url, api_key="sk-test",
        default_model="fake-default", timeout=10, max_retries=0,
    )  # fmt: skip


@pytest.fixture
def helper(alice, offline_provider) -> Assistant:
    return Assistant.objects.create(name="Helper", owner=alice, provider=offline_provider)


@pytest.fixture
def conversation(alice, helper) -> Conversation:
    return Conversation.objects.create(owner=alice, assistant=helper)
