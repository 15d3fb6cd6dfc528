"""Workflows for assistants, by what they concern; every interface imports them from here."""

from __future__ import annotations

from assistants.services.building import (
    FILE_SEARCH_TOOL,
    METADATA_VALUE_MAX,
    AgentBuild,
    AssistantUnavailable,
    ServerSkipped,
    assistant_agent_build,
    file_search_tool_build,
    function_tools_build,
)
from assistants.services.knowledge import (
    assistant_knowledge,
    assistant_knowledge_add,
    assistant_knowledge_remove,
    assistant_knowledge_store_id,
)
from assistants.services.management import (
    ASSISTANT_FIELDS,
    assistant_can_edit,
    assistant_choices_check,
    assistant_create,
    assistant_delete,
    assistant_duplicate,
    assistant_get,
    assistant_run_refusal,
    assistant_update,
    mcp_server_usable,
    provider_models_known,
    provider_usable,
)
from assistants.services.providers import ProviderCheck, provider_check

__all__ = [
    "ASSISTANT_FIELDS",
    "FILE_SEARCH_TOOL",
    "METADATA_VALUE_MAX",
    "AgentBuild",
    "AssistantUnavailable",
    "ProviderCheck",
    "ServerSkipped",
    "assistant_agent_build",
    "assistant_can_edit",
    "assistant_choices_check",
    "assistant_create",
    "assistant_delete",
    "assistant_duplicate",
    "assistant_get",
    "assistant_knowledge",
    "assistant_knowledge_add",
    "assistant_knowledge_remove",
    "assistant_knowledge_store_id",
    "assistant_run_refusal",
    "assistant_update",
    "file_search_tool_build",
    "function_tools_build",
    "mcp_server_usable",
    "provider_check",
    "provider_models_known",
    "provider_usable",
]
