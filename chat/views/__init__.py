"""The chat pages, a module per part: `chat/urls.py` routes to the views re-exported here."""

from __future__ import annotations

from chat.views.conversations import (
    conversation_archive,
    conversation_assistant,
    conversation_create,
    conversation_delete,
    conversation_detail,
    conversation_export,
    conversation_list,
    conversation_model,
    conversation_rename,
    conversation_unarchive,
)
from chat.views.mcp_picker import conversation_mcp_catalog, conversation_mcp_prompt, conversation_mcp_resource
from chat.views.share import conversation_share, shared_conversation
from chat.views.steps import step_app, step_app_data, step_content, step_output, step_resource

__all__ = [
    "conversation_archive",
    "conversation_assistant",
    "conversation_create",
    "conversation_delete",
    "conversation_detail",
    "conversation_export",
    "conversation_list",
    "conversation_mcp_catalog",
    "conversation_mcp_prompt",
    "conversation_mcp_resource",
    "conversation_model",
    "conversation_rename",
    "conversation_share",
    "conversation_unarchive",
    "shared_conversation",
    "step_app",
    "step_app_data",
    "step_content",
    "step_output",
    "step_resource",
]
