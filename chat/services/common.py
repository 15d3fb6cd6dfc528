"""What the conversation, message and run workflows share: input checks, locks and fairness limits."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from assistants.factory import model_choice_refusal, model_refusal, model_served
from assistants.models import Assistant
from chat.executor import Executor, get_executor
from chat.models import Conversation, Message, Run
from chat.selectors import Branch, conversation_branch
from chat.services.quotas import Limits, quota_limits
from core.errors import ServiceError
from core.ratelimit import RateLimited, rate_limit_hit

# OpenAI's metadata rules, so metadata written anywhere reads back through any Assistants client.
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512
TITLE_LENGTH = 60


def metadata_validate(value: Any, *, param: str = "metadata") -> dict[str, str]:
    """Check metadata against OpenAI's rules: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ServiceError("invalid_metadata", "Metadata must be an object of string keys and values.", param=param)
    if len(value) > METADATA_MAX_PAIRS:
        raise ServiceError(
            "invalid_metadata", f"Metadata can hold at most {METADATA_MAX_PAIRS} key-value pairs.", param=param
        )
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ServiceError("invalid_metadata", "Metadata keys and values must be strings.", param=param)
        text_check(key + item, code="invalid_metadata", param=param)
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise ServiceError(
                "invalid_metadata", f"Metadata keys can be at most {METADATA_KEY_MAX_CHARS} characters.", param=param
            )
        if len(item) > METADATA_VALUE_MAX_CHARS:
            raise ServiceError(
                "invalid_metadata",
                f"Metadata values can be at most {METADATA_VALUE_MAX_CHARS} characters.",
                param=param,
            )
    return dict(value)


def text_check(value: str, *, code: str, param: str | None = None) -> str:
    """Refuse text no database can store: a lone surrogate (\\ud800) is not a character."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ServiceError(code, "The text holds an invalid character (a lone surrogate).", param=param) from None
    return value


def content_validate(content: Any, *, param: str | None = None) -> str:
    """A message's text: a non-empty string within the size limit."""
    limit = settings.SWITCHBOARD["MESSAGE_MAX_CHARS"]
    if not isinstance(content, str):
        raise ServiceError("invalid_content", "Message content must be a string.", param=param)
    text_check(content, code="invalid_content", param=param)
    if not content.strip():
        raise ServiceError("invalid_content", "Message content must not be empty.", param=param)
    if len(content) > limit:
        raise ServiceError("content_too_long", f"Message content is over {limit} characters.", param=param)
    return content


def role_validate(role: Any, *, param: str = "role") -> str:
    if role not in (Message.Role.USER, Message.Role.ASSISTANT):
        raise ServiceError("invalid_role", "A message's role must be 'user' or 'assistant'.", param=param)
    return role


def message_fields(entry: Any, index: int, *, field: str = "messages") -> tuple[str, str, dict[str, str]]:
    """Validate one message given with a new conversation or run: (role, content, metadata)."""
    param = f"{field}[{index}]"
    if not isinstance(entry, dict):
        raise ServiceError("invalid_message", "Each message must be an object.", param=param)
    role = role_validate(entry.get("role"), param=f"{param}.role")
    content = content_validate(entry.get("content"), param=f"{param}.content")
    metadata = metadata_validate(entry.get("metadata"), param=f"{param}.metadata")
    return role, content, metadata


def title_from(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def assistant_usable(*, user: AbstractBaseUser, assistant_id: Any) -> Assistant:
    if not isinstance(assistant_id, str):
        raise ServiceError("invalid_assistant_id", "assistant_id must be a string.", param="assistant_id")
    try:
        return Assistant.objects.usable_by(user).select_related("provider").get(pk=assistant_id)
    except Assistant.DoesNotExist:
        raise ServiceError(
            "assistant_not_found", f"No assistant found with id '{assistant_id[:100]}'.", param="assistant_id"
        ) from None


def conversation_locked(*, user: AbstractBaseUser, conversation_id: Any, related: bool = False) -> Conversation:
    """The user's conversation, locked for this transaction; another user's is not found."""
    if not isinstance(conversation_id, str):
        raise ServiceError("invalid_thread_id", "thread_id must be a string.")
    queryset = Conversation.objects.select_for_update(of=("self",))
    if related:
        queryset = queryset.select_related("assistant__provider", "owner")
    try:
        return queryset.get(pk=conversation_id, owner=user)
    except Conversation.DoesNotExist:
        raise ServiceError.not_found("thread", conversation_id) from None


def executor_taking_runs() -> Executor:
    """The executor, or a clear refusal while this process shuts down."""
    executor = get_executor()
    if not executor.accepting:
        raise ServiceError("shutting_down", "The server is restarting. Try again in a moment.")
    return executor


def message_count(user: AbstractBaseUser, *, hits: int = 1, limits: Limits | None = None) -> None:
    """Count messages and runs against the user's one rate, whatever the interface: each message stored counts,
    and each run, except the one answering the message stored with it (the page's send is one hit)."""
    if hits <= 0:
        return
    limits = limits or quota_limits(user)
    try:
        rate_limit_hit(scope="messages", user_id=user.pk, limit=limits.messages_per_minute, what="messages", hits=hits)
    except RateLimited as exc:
        raise ServiceError("rate_limited", str(exc), retry_after=exc.retry_after) from None


def model_check(*, assistant: Assistant, model: Any, param: str = "model") -> str:
    """A model the user picked by name for this assistant: one its provider serves, where it can tell."""
    if not isinstance(model, str):
        raise ServiceError("invalid_model", "A model must be a string.", param=param)
    if model == assistant.model_name:
        return model
    refusal = model_choice_refusal(provider=assistant.provider, model_name=model)
    if refusal:
        raise ServiceError("invalid_model", refusal, param=param)
    return model


def model_kept(*, conversation: Conversation, assistant: Assistant) -> bool:
    """Whether the conversation's own model goes on with this assistant in place of its current one: the same
    provider serves it on, or the new provider says it serves it (a name on another vendor means nothing)."""
    if not conversation.model:
        return True
    current = conversation.assistant
    if current is not None and current.provider_id == assistant.provider_id:
        return not model_refusal(provider=assistant.provider, model_name=conversation.model)
    return bool(model_served(provider=assistant.provider, model_name=conversation.model))


def run_model(conversation: Conversation, assistant: Assistant) -> str:
    """The model a run of this assistant in this conversation is asked for: the conversation's own where it
    holds for this assistant, else the assistant's."""
    if conversation.model and model_kept(conversation=conversation, assistant=assistant):
        return conversation.model
    return assistant.model_name


def run_new(
    *,
    conversation: Conversation,
    assistant: Assistant,
    instructions: str,
    metadata: dict | None = None,
    functions: list[dict] | None = None,
    overrides: dict | None = None,
    reply_to_id: str | None = None,
    model: str | None = None,
) -> Run:
    """Store a queued run of this assistant, answering the message `reply_to_id`, with the provider and model it
    will be charged at and asked for (`model`, else the conversation's, else the assistant's) and its own function
    tools, when it does not use its assistant's."""
    return Run.objects.create(
        conversation=conversation,
        reply_to_id=reply_to_id,
        assistant=assistant,
        provider_id=assistant.provider_id,
        model=model or run_model(conversation, assistant),
        instructions=instructions,
        metadata=metadata or {},
        functions=functions,
        overrides=overrides or {},
    )


def branch_shown(conversation: Conversation, *, inputs: bool = False) -> Branch:
    """The conversation's branch shown, which a new message follows (its `tip`); with `inputs`, read with what
    the model's input takes of each message, for the run that answers the new one."""
    return conversation_branch(conversation_id=conversation.pk, current_id=conversation.current_id, inputs=inputs)


def refuse_if_busy(user: AbstractBaseUser, *, limit: int) -> None:
    """One user may only have so many runs going at once, across all their conversations."""
    if limit and Run.objects.filter(conversation__owner=user, status__in=Run.ACTIVE).count() >= limit:
        raise ServiceError(
            "too_many_runs", f"You already have {limit} answers in progress. Wait for one to finish, or stop one."
        )
