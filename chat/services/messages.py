"""Messages: where a message is stored and announced, with or without the run that answers it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chat.events import announce
from chat.models import Conversation, Message, Run
from chat.selectors import RESOURCES_KEY, Branch, message_get_for_user
from chat.serializers import message_object
from chat.services.attachments import MessageFiles, message_files_attach, message_files_check
from chat.services.common import (
    branch_shown,
    content_validate,
    conversation_locked,
    executor_taking_runs,
    message_count,
    metadata_validate,
    role_validate,
    run_new,
    title_from,
)
from chat.services.mcp_context import prompt_command_parse, prompt_command_render, resources_check
from chat.services.runs import refuse_if_run_active, run_admit, run_announcement
from core.errors import ServiceError


def _message_store(
    *,
    user: AbstractBaseUser,
    conversation_id: Any,
    content: Any,
    role: Any,
    metadata: Any,
    answer: bool,
    check: Callable[..., None] | None = None,
    resources: Any = None,
) -> tuple[Message, Run | None, Branch]:
    """Store the message, and with `answer` a queued run for it, in one transaction; with the branch it follows
    (read with the model's input when a run answers)."""
    content = content_validate(content, param="content")
    role = role_validate(role)
    metadata = metadata_validate(metadata)
    if resources:
        if check is not None:
            check()  # before the conversation's servers are asked for anything
        metadata[RESOURCES_KEY] = resources_check(user=user, thread_id=conversation_id, resources=resources)
    if answer and role != Message.Role.USER:
        raise ServiceError("invalid_role", "Only a user message can be answered.", param="role")
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id, related=answer)
        if check is not None:
            check(conversation.owner)  # read with the conversation, in the same trip
        branch = branch_shown(conversation, inputs=answer)
        message = Message(
            conversation=conversation, role=role, content=content, metadata=metadata, parent_id=branch.tip
        )
        run = None
        if answer:
            run_admit(conversation, user)
            run = _answer_new(conversation, message)
        else:
            refuse_if_run_active(conversation)
            message_count(user)
        message.save(force_insert=True)
        if not conversation.title and role == Message.Role.USER:
            conversation.title = title_from(content)
        conversation.current = message
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "current", "updated_at"])
    return message, run, branch


def _answer_new(conversation: Conversation, message: Message) -> Run:
    """A queued run of the conversation's assistant that answers `message` (stored with it, in its transaction:
    the constraint on `reply_to` is checked at commit)."""
    assistant = conversation.assistant
    if assistant is None:
        raise ServiceError("assistant_deleted", "The assistant of this conversation was deleted.")
    message.run = run_new(
        conversation=conversation, assistant=assistant, instructions=assistant.instructions, reply_to_id=message.pk
    )
    return message.run


async def _announce_answer(
    message: Message, run: Run, *, first: list[tuple[str, dict]] = (), branch: Branch | None = None
) -> None:
    # The run starts first, so its claim does not wait for these events' send (a trip to Redis when scaled out);
    # they are queued before it can say anything, and the conversation's events go out in the order they were
    # said (chat.events), so its own follow them.
    executor = executor_taking_runs()
    events = [*first, ("thread.message.created", message_object(message)), *run_announcement(run)]
    executor.submit(run.pk, loaded=run, branch=branch)
    await announce(message.conversation_id, events)


async def message_create(
    *,
    user: AbstractBaseUser,
    conversation_id: Any,
    content: Any,
    role: Any = Message.Role.USER,
    metadata: Any = None,
    answer: bool = False,
    attachment_ids: Any = None,
    image_file_ids: Any = None,
    file_ids: Any = None,
    resources: Any = None,
    check: Callable[..., None] | None = None,
) -> tuple[Message, Run | None]:
    """Add a message to a conversation and announce it; with `answer`, also start the run that answers it.
    `resources` are MCP resources of the conversation's servers attached to it ([{"server", "uri", "title"}]).

    Without `answer` (the API's and MCP's create message) no run starts, and a conversation with an active run
    refuses the message; with it (the chat page) the conversation's assistant answers. `check` is the
    interface's own check of who is asking, run in the same trip to the database before anything is stored (the
    chat socket re-checks its login there), given the conversation's owner as just read; it refuses by raising.
    """
    if answer:
        executor_taking_runs()
    files = MessageFiles()
    if attachment_ids or image_file_ids or file_ids:

        def files_check() -> MessageFiles:
            if check is not None:
                check()
            return message_files_check(
                user=user, attachment_ids=attachment_ids, image_file_ids=image_file_ids, file_ids=file_ids
            )

        files = await sync_to_async(files_check)()
    message, run, branch = await sync_to_async(_message_store)(
        user=user,
        conversation_id=conversation_id,
        content=content,
        role=role,
        metadata=metadata,
        answer=answer,
        check=check,
        resources=resources,
    )
    if files:
        await message_files_attach(message=message, run=run, files=files)
    if run is None:
        await announce(message.conversation_id, [("thread.message.created", message_object(message))])
        return message, None
    # With its files, attached above: the run's input is read from here.
    await _announce_answer(message, run, branch=branch.asked(message))
    return message, run


def _prompt_store(
    *, user: AbstractBaseUser, conversation_id: str, messages: list[dict[str, str]], prompt: str, check: Callable
) -> tuple[list[Message], Run | None, Branch]:
    """Store a prompt's messages in order, in one transaction, with a queued run if the last is the user's; with
    the branch they end."""
    check()
    contents = [content_validate(message["text"], param="content") for message in messages]
    answer = messages[-1]["role"] == Message.Role.USER
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id, related=answer)
        branch = branch_shown(conversation, inputs=answer)
        parent_id = branch.tip
        stored = []
        for message, content in zip(messages, contents, strict=True):
            stored.append(
                Message(
                    conversation=conversation,
                    role=message["role"],
                    content=content,
                    metadata={"mcp_prompt": prompt},
                    parent_id=parent_id,
                )
            )
            parent_id = stored[-1].pk
        run = None
        if answer:
            run_admit(conversation, user, hits=len(stored))
            run = _answer_new(conversation, stored[-1])
        else:
            refuse_if_run_active(conversation)
            message_count(user, hits=len(stored))
        for message in stored:
            message.save(force_insert=True)
        if not conversation.title:
            conversation.title = title_from(next((m.content for m in stored if m.role == Message.Role.USER), prompt))
        conversation.current = stored[-1]
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["title", "current", "updated_at"])
    return stored, run, branch.asked(*stored)


async def message_prompt_create(
    *, user: AbstractBaseUser, conversation_id: Any, content: str, check: Callable[[], None]
) -> list[Message] | None:
    """Fill the conversation with the messages of the MCP prompt that `content` asks for
    (`/<server>:<prompt> arg=value arg2="two words"`), as the user's and the assistant's, and answer the last if
    it is the user's. None if `content` asks for no prompt; a refused prompt stores nothing."""
    command = prompt_command_parse(content)
    if command is None:
        return None
    executor_taking_runs()
    await sync_to_async(check)()  # before the server is asked anything for this user
    messages = await prompt_command_render(user=user, thread_id=conversation_id, command=command)
    stored, run, branch = await sync_to_async(_prompt_store)(
        user=user,
        conversation_id=conversation_id,
        messages=messages,
        prompt=f"{command.server}:{command.name}",
        check=check,
    )
    created = [("thread.message.created", message_object(message)) for message in stored]
    if run is None:
        await announce(conversation_id, created)
    else:
        await _announce_answer(stored[-1], run, first=created[:-1], branch=branch)
    return stored


def _edit_store(*, user: AbstractBaseUser, conversation_id: Any, message_id: Any, content: Any) -> tuple[Message, Run]:
    content = content_validate(content, param="content")
    with transaction.atomic():
        conversation = conversation_locked(user=user, conversation_id=conversation_id, related=True)
        original = message_get_for_user(user=user, conversation_id=conversation.pk, message_id=message_id)
        if original.role != Message.Role.USER:
            raise ServiceError("invalid_message", "Only a message you sent can be edited.", param="message_id")
        run_admit(conversation, user)  # refused while a run is going: it reads the branch being left
        message = Message(
            conversation=conversation,
            role=Message.Role.USER,
            content=content,
            metadata=original.metadata,
            parent_id=original.parent_id,
            edited_from=original,
        )
        run = _answer_new(conversation, message)
        message.save(force_insert=True)
        conversation.current = message
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["current", "updated_at"])
    return message, run


async def message_edit(*, user: AbstractBaseUser, conversation_id: Any, message_id: Any, content: Any) -> Message:
    """Send an edited copy of one of the user's messages in its place and answer it; the original and what
    followed it stay, as another branch. Refused while a run is active."""
    executor_taking_runs()
    message, run = await sync_to_async(_edit_store)(
        user=user, conversation_id=conversation_id, message_id=message_id, content=content
    )
    # Every open page redraws the branch: what followed the original is no longer shown.
    changed = ("thread.branch.changed", {"thread_id": message.conversation_id, "message_id": message.pk})
    await _announce_answer(message, run, first=[changed])
    return message


def _history_locked(*, user: AbstractBaseUser, conversation_id: Any, message_id: Any) -> tuple[Conversation, Message]:
    """The user's conversation (locked for this transaction) and one of its messages, while no run reads its
    history: changing it under a run would change the model's input halfway."""
    conversation = conversation_locked(user=user, conversation_id=conversation_id)
    message = message_get_for_user(user=user, conversation_id=conversation.pk, message_id=message_id)
    refuse_if_run_active(conversation)
    return conversation, message


def _branch_store(*, user: AbstractBaseUser, conversation_id: Any, message_id: Any) -> Message:
    with transaction.atomic():
        conversation, message = _history_locked(user=user, conversation_id=conversation_id, message_id=message_id)
        # update(), not save(): looking at another version is not activity and must not move it up the list.
        Conversation.objects.filter(pk=conversation.pk).update(current=message)
    return message


async def branch_select(*, user: AbstractBaseUser, conversation_id: Any, message_id: Any) -> Message:
    """Show the branch through this message (one of its versions): the page, the model's next input and the
    API's message list follow it. Refused while a run is active."""
    message = await sync_to_async(_branch_store)(user=user, conversation_id=conversation_id, message_id=message_id)
    data = {"thread_id": message.conversation_id, "message_id": message.pk}
    await announce(message.conversation_id, [("thread.branch.changed", data)])
    return message


def message_update(*, user: AbstractBaseUser, conversation_id: str, message_id: str, metadata: dict) -> Message:
    """Replace a message's metadata."""
    metadata = metadata_validate(metadata)
    message = message_get_for_user(user=user, conversation_id=conversation_id, message_id=message_id)
    if RESOURCES_KEY in (message.metadata or {}):
        metadata[RESOURCES_KEY] = message.metadata[RESOURCES_KEY]  # attached, not the caller's to replace
    message.metadata = metadata
    message.save(update_fields=["metadata"])
    return message


def _message_delete(*, user: AbstractBaseUser, conversation_id: str, message_id: str) -> str:
    with transaction.atomic():
        conversation, message = _history_locked(user=user, conversation_id=conversation_id, message_id=message_id)
        # What followed it follows what it followed: the branch through it stays whole.
        parent = message.parent_id
        Message.objects.filter(conversation=conversation, parent=message).update(parent_id=parent)
        Run.objects.filter(conversation=conversation, reply_to=message).update(reply_to_id=parent)
        Conversation.objects.filter(pk=conversation.pk, current=message).update(current_id=parent)
        message.delete()
    return message_id


async def message_delete(*, user: AbstractBaseUser, conversation_id: str, message_id: str) -> dict[str, Any]:
    """Delete a message of a conversation with no run going; every open page drops it."""
    deleted = await sync_to_async(_message_delete)(user=user, conversation_id=conversation_id, message_id=message_id)
    data = {"id": deleted, "object": "thread.message.deleted", "deleted": True}
    await announce(conversation_id, [("thread.message.deleted", data)])
    return data
