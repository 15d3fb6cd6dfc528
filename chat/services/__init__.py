"""Workflows for conversations, messages and runs. Every interface (pages, WebSocket, `/v1/`, MCP) calls these.

Each checks its typed input, stores, announces what changed through `chat.events`, and hands runs to the
executor: `messages.py` stores and announces messages, `runs.py` starts and stops runs, `decisions.py` takes
the user's decisions on a run's waiting tool calls, `conversations.py` holds the rest of a conversation's life.
"""

from chat.expiry import runs_expire_stale
from chat.services.common import content_validate, metadata_validate
from chat.services.conversations import (
    conversation_archive,
    conversation_assistant_switch,
    conversation_create,
    conversation_delete,
    conversation_model_switch,
    conversation_rename,
    conversation_run_create,
    conversation_update,
    conversations_cleanup,
)
from chat.services.decisions import run_approve, run_decisions_submit, run_deny
from chat.services.elicitations import elicitation_respond
from chat.services.messages import (
    branch_select,
    message_create,
    message_delete,
    message_edit,
    message_prompt_create,
    message_update,
)
from chat.services.runs import (
    SETTLED_STATUSES,
    TERMINAL_STATUSES,
    run_cancel,
    run_create,
    run_regenerate,
    run_store,
    run_update,
    run_wait,
)

__all__ = [
    "SETTLED_STATUSES",
    "TERMINAL_STATUSES",
    "branch_select",
    "content_validate",
    "conversation_archive",
    "conversation_assistant_switch",
    "conversation_create",
    "conversation_delete",
    "conversation_model_switch",
    "conversation_rename",
    "conversation_run_create",
    "conversation_update",
    "conversations_cleanup",
    "elicitation_respond",
    "message_create",
    "message_delete",
    "message_edit",
    "message_prompt_create",
    "message_update",
    "metadata_validate",
    "run_approve",
    "run_cancel",
    "run_create",
    "run_decisions_submit",
    "run_deny",
    "run_regenerate",
    "run_store",
    "run_update",
    "run_wait",
    "runs_expire_stale",
]
