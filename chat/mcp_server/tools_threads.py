"""The thread and message tools."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from mcp.server.mcpserver import Context
from pydantic import Field

from chat import selectors, services
from chat.mcp_server.arguments import (
    After,
    Before,
    Limit,
    MessageInput,
    Metadata,
    Order,
    ThreadId,
    deleted_object,
    page_params,
)
from chat.mcp_server.base import mcp_tool, request_user
from chat.serializers import message_object, thread_object
from core.api import LIMIT_DEFAULT, page


def thread_get(user: AbstractBaseUser, thread_id: str) -> Any:
    return selectors.conversation_get_for_user(user=user, conversation_id=thread_id)


@mcp_tool("Create a thread (a conversation), optionally for an assistant and with initial messages.")
async def create_thread(
    ctx: Context,
    assistant_id: Annotated[
        str | None, Field(description="The assistant the thread is for; runs default to it.", max_length=64)
    ] = None,
    messages: Annotated[list[MessageInput] | None, Field(description="Messages to start the thread with.")] = None,
    metadata: Metadata = None,
) -> dict[str, Any]:
    user = request_user(ctx)
    initial = [message.model_dump() for message in messages or []]

    def created() -> dict[str, Any]:
        conversation = services.conversation_create(
            user=user, assistant_id=assistant_id, metadata=metadata, messages=initial
        )
        return thread_object(conversation)

    return await sync_to_async(created)()


@mcp_tool("Get a thread by id.", read_only=True)
async def get_thread(ctx: Context, thread_id: ThreadId) -> dict[str, Any]:
    user = request_user(ctx)
    return await sync_to_async(lambda: thread_object(thread_get(user, thread_id)))()


@mcp_tool("Delete a thread with its messages and runs. Refused while a run is active.", destructive=True)
async def delete_thread(ctx: Context, thread_id: ThreadId) -> dict[str, Any]:
    user = request_user(ctx)

    def deleted() -> dict[str, Any]:
        services.conversation_delete(user=user, conversation_id=thread_id)
        return deleted_object(thread_id, "thread")

    return await sync_to_async(deleted)()


@mcp_tool(
    "Add a message to a thread. This does not start a run: call create_run for an answer. "
    "Refused while a run is active."
)
async def create_message(
    ctx: Context,
    thread_id: ThreadId,
    content: Annotated[str, Field(description="The message text.")],
    role: Annotated[Literal["user", "assistant"], Field(description="Who wrote the message.")] = "user",
    metadata: Metadata = None,
) -> dict[str, Any]:
    message, _ = await services.message_create(
        user=request_user(ctx), conversation_id=thread_id, content=content, role=role, metadata=metadata
    )
    return message_object(message)


@mcp_tool("List a thread's messages, newest first by default.", read_only=True)
async def list_messages(
    ctx: Context,
    thread_id: ThreadId,
    run_id: Annotated[str | None, Field(description="Only the messages of this run.")] = None,
    limit: Limit = LIMIT_DEFAULT,
    order: Order = "desc",
    after: After = None,
    before: Before = None,
) -> dict[str, Any]:
    user = request_user(ctx)

    def listed() -> dict[str, Any]:
        queryset = selectors.conversation_messages(conversation=thread_get(user, thread_id))
        if run_id:
            queryset = queryset.filter(run_id=run_id)
        return page(queryset, page_params(limit, order, after, before), message_object)

    return await sync_to_async(listed)()
