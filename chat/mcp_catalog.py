"""What Switchboard's MCP server offers besides tools: the user's assistants, threads and messages as
`switchboard://` resources, and one prompt per assistant they may use.

Every function takes the user the request acts for and reads through the same selectors and services as
the `/v1/` API, so another user's object is not found exactly like a missing one. Objects are the same
Assistants v2 JSON the tools return.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    EmbeddedResource,
    GetPromptResult,
    Prompt,
    PromptArgument,
    PromptMessage,
    Resource,
    ResourceTemplate,
    TextContent,
    TextResourceContents,
)

from assistants.models import Assistant
from assistants.serializers import assistant_object
from assistants.services import assistant_get
from chat import selectors
from chat.models import Conversation
from chat.serializers import message_object, thread_object
from core.api import LIMIT_MAX, PageParams, page
from core.errors import ServiceError

SCHEME = "switchboard"
JSON = "application/json"
# Resources and prompts listed per page; a thread counts once although it lists two resources.
PAGE_SIZE = 100
PROMPT_ARGUMENT = "message"

TEMPLATES = [
    ResourceTemplate(
        name="assistant",
        title="Assistant",
        uri_template=f"{SCHEME}://assistants/{{assistant_id}}",
        description="An assistant you may use (asst_…), as Assistants v2 JSON.",
        mime_type=JSON,
    ),
    ResourceTemplate(
        name="thread",
        title="Thread",
        uri_template=f"{SCHEME}://threads/{{thread_id}}",
        description="One of your threads (thread_…), as Assistants v2 JSON.",
        mime_type=JSON,
    ),
    ResourceTemplate(
        name="thread_messages",
        title="Thread messages",
        uri_template=f"{SCHEME}://threads/{{thread_id}}/messages",
        description=f"A thread's messages, oldest first (the first {LIMIT_MAX}), as an Assistants v2 list.",
        mime_type=JSON,
    ),
]

_ASSISTANT_URI = re.compile(rf"^{SCHEME}://assistants/(?P<id>[^/?#]+)$")
_THREAD_URI = re.compile(rf"^{SCHEME}://threads/(?P<id>[^/?#]+)(?P<messages>/messages)?$")


class NotFound(MCPError):
    """A resource or prompt this user cannot see: missing, or someone else's. Invalid params, as the spec says."""

    def __init__(self, message: str, **data: str) -> None:
        super().__init__(INVALID_PARAMS, message, data or None)


def cursor_offset(cursor: str | None) -> int:
    """The offset a `nextCursor` of ours stands for."""
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        raise MCPError(INVALID_PARAMS, "Invalid cursor.")
    return int(cursor)


def _next_cursor(offset: int, has_more: bool) -> str | None:
    return str(offset + PAGE_SIZE) if has_more else None


# --- Resources ------------------------------------------------------------------------------------------------------


def _assistant_resource(assistant: Assistant) -> Resource:
    return Resource(
        name=assistant.pk,
        title=f"Assistant {assistant.name}",
        uri=f"{SCHEME}://assistants/{assistant.pk}",
        description=assistant.description or None,
        mime_type=JSON,
    )


def _thread_resources(conversation: Conversation) -> list[Resource]:
    title = conversation.title or conversation.pk
    return [
        Resource(
            name=conversation.pk, title=f"Thread {title}", uri=f"{SCHEME}://threads/{conversation.pk}", mime_type=JSON
        ),
        Resource(
            name=f"{conversation.pk}/messages",
            title=f"Messages of {title}",
            uri=f"{SCHEME}://threads/{conversation.pk}/messages",
            mime_type=JSON,
        ),
    ]


def resources_list(*, user: AbstractBaseUser, cursor: str | None) -> tuple[list[Resource], str | None]:
    """One page of the user's resources: the assistants they may use, then their threads, newest first."""
    offset = cursor_offset(cursor)
    assistants = Assistant.objects.usable_by(user).order_by("pk")
    assistant_count = assistants.count()
    listed: list[Resource] = []
    units = 0
    if offset < assistant_count:
        for assistant in assistants[offset : offset + PAGE_SIZE]:
            listed.append(_assistant_resource(assistant))
            units += 1
    thread_offset = max(0, offset - assistant_count)
    threads = list(selectors.conversation_list(user=user)[thread_offset : thread_offset + PAGE_SIZE - units + 1])
    has_more = len(threads) > PAGE_SIZE - units
    for conversation in threads[: PAGE_SIZE - units]:
        listed.extend(_thread_resources(conversation))
    return listed, _next_cursor(offset, has_more)


def _contents(uri: str, value: dict[str, Any]) -> list[TextResourceContents]:
    return [TextResourceContents(uri=uri, mime_type=JSON, text=json.dumps(value, ensure_ascii=False))]


def resource_read(*, user: AbstractBaseUser, uri: str) -> list[TextResourceContents]:
    """The contents of one of the user's resources; NotFound for anything else."""
    try:
        if match := _ASSISTANT_URI.match(uri):
            assistant = assistant_get(user=user, assistant_id=match["id"])
            assistant = Assistant.objects.prefetch_related("mcp_servers").get(pk=assistant.pk)
            return _contents(uri, assistant_object(assistant))
        if match := _THREAD_URI.match(uri):
            conversation = selectors.conversation_get_for_user(user=user, conversation_id=match["id"])
            if not match["messages"]:
                return _contents(uri, thread_object(conversation))
            messages = selectors.conversation_messages(conversation=conversation)
            first = PageParams(limit=LIMIT_MAX, order="asc", after=None, before=None)
            return _contents(uri, page(messages, first, message_object))
    except ServiceError as exc:
        if exc.code != "not_found":
            raise
    raise NotFound(f"Resource not found: {uri[:200]}", uri=uri[:200])


# --- Prompts --------------------------------------------------------------------------------------------------------


def _prompt(assistant: Assistant) -> Prompt:
    return Prompt(
        name=assistant.pk,
        title=f"Chat with {assistant.name}",
        description=assistant.description or f"Start a Switchboard chat with the assistant {assistant.name}.",
        arguments=[PromptArgument(name=PROMPT_ARGUMENT, description="What to say to the assistant.", required=True)],
    )


def prompts_list(*, user: AbstractBaseUser, cursor: str | None) -> tuple[list[Prompt], str | None]:
    """One page of prompts: one per assistant the user may use."""
    offset = cursor_offset(cursor)
    assistants = list(Assistant.objects.usable_by(user).order_by("pk")[offset : offset + PAGE_SIZE + 1])
    return [_prompt(assistant) for assistant in assistants[:PAGE_SIZE]], _next_cursor(
        offset, len(assistants) > PAGE_SIZE
    )


def prompt_get(*, user: AbstractBaseUser, name: str, arguments: dict[str, str] | None) -> GetPromptResult:
    """Messages that start a chat with the prompt's assistant: its description, then what to do with the message."""
    try:
        assistant = assistant_get(user=user, assistant_id=name)
    except ServiceError as exc:
        if exc.code != "not_found":
            raise
        raise NotFound(f"Unknown prompt: {name[:100]}") from None
    message = (arguments or {}).get(PROMPT_ARGUMENT)
    if not message or not message.strip():
        raise MCPError(INVALID_PARAMS, f"The prompt needs the argument '{PROMPT_ARGUMENT}'.")
    assistant = Assistant.objects.prefetch_related("mcp_servers").get(pk=assistant.pk)
    uri = f"{SCHEME}://assistants/{assistant.pk}"
    instructions = (
        f"Chat with the Switchboard assistant “{assistant.name}” ({assistant.pk}): create a thread for it with "
        "create_thread, add the message below with create_message, run it with create_run, then read the answer "
        "with list_messages and show it to me.\n\nMessage:\n" + message
    )
    return GetPromptResult(
        description=f"Chat with {assistant.name}",
        messages=[
            PromptMessage(
                role="user",
                content=EmbeddedResource(type="resource", resource=_contents(uri, assistant_object(assistant))[0]),
            ),
            PromptMessage(role="user", content=TextContent(type="text", text=instructions)),
        ],
    )
