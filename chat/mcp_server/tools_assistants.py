"""The assistant tools: list, create, get, update and delete, as the `/v1/assistants` endpoints do."""

from __future__ import annotations

from typing import Annotated, Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from mcp.server.mcpserver import Context
from pydantic import Field

from assistants import api as assistants_api
from assistants.models import Assistant
from assistants.serializers import assistant_object
from assistants.services import assistant_create, assistant_delete, assistant_get, assistant_update
from chat.mcp_server.arguments import (
    After,
    AssistantId,
    Before,
    Limit,
    McpServerTool,
    Metadata,
    Order,
    deleted_object,
    page_params,
)
from chat.mcp_server.base import arguments_given, mcp_tool, request_user
from core.api import LIMIT_DEFAULT, page


def _assistant_fields(
    user: AbstractBaseUser, values: dict[str, Any], *, assistant: Assistant | None = None
) -> dict[str, Any]:
    """Map tool arguments to service arguments exactly as the `/v1/assistants` endpoints do."""
    data = dict(values)
    if "tools" in data and data["tools"] is not None:
        data["tools"] = [tool.model_dump() for tool in data["tools"]]
    return assistants_api.assistant_fields_parse(user, data, assistant=assistant)


def _assistant_read(assistant: Assistant) -> dict[str, Any]:
    return assistant_object(Assistant.objects.prefetch_related("mcp_servers").get(pk=assistant.pk))


@mcp_tool("List the assistants you may use (your own and shared ones), newest first by default.", read_only=True)
async def list_assistants(
    ctx: Context, limit: Limit = LIMIT_DEFAULT, order: Order = "desc", after: After = None, before: Before = None
) -> dict[str, Any]:
    user = request_user(ctx)

    def listed() -> dict[str, Any]:
        queryset = Assistant.objects.usable_by(user).select_related("provider").prefetch_related("mcp_servers")
        return page(queryset, page_params(limit, order, after, before), assistant_object)

    return await sync_to_async(listed)()


@mcp_tool("Create an assistant you own.")
async def create_assistant(
    ctx: Context,
    model: Annotated[
        str,
        Field(
            description="'<provider>/<model>', a provider's name for its default model (e.g. 'Offline'), "
            "or a model that is some enabled provider's default."
        ),
    ],
    name: Annotated[str | None, Field(description="The assistant's name.", max_length=256)] = None,
    instructions: Annotated[str | None, Field(description="The system instructions.")] = None,
    description: Annotated[str | None, Field(max_length=512)] = None,
    tools: Annotated[
        list[McpServerTool] | None, Field(description="MCP servers the assistant may call tools on.")
    ] = None,
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None,
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None,
    metadata: Metadata = None,
) -> dict[str, Any]:
    user = request_user(ctx)
    values = {
        "model": model,
        "name": name,
        "instructions": instructions,
        "description": description,
        "tools": tools,
        "temperature": temperature,
        "top_p": top_p,
        "metadata": metadata,
    }
    values = {key: value for key, value in values.items() if value is not None}

    def created() -> dict[str, Any]:
        fields = _assistant_fields(user, values)
        fields.setdefault("name", assistants_api.DEFAULT_NAME)
        return _assistant_read(assistant_create(user=user, **fields))

    return await sync_to_async(created)()


@mcp_tool("Get an assistant by id.", read_only=True)
async def get_assistant(ctx: Context, assistant_id: AssistantId) -> dict[str, Any]:
    user = request_user(ctx)
    return await sync_to_async(lambda: _assistant_read(assistant_get(user=user, assistant_id=assistant_id)))()


@mcp_tool(
    "Change an assistant you own. Only the fields you send change; send null for temperature or top_p "
    "to clear them, an empty list of tools to detach every MCP server."
)
async def update_assistant(
    ctx: Context,
    assistant_id: AssistantId,
    model: Annotated[str | None, Field(description="As in create_assistant.")] = None,
    name: Annotated[str | None, Field(max_length=256)] = None,
    instructions: str | None = None,
    description: Annotated[str | None, Field(max_length=512)] = None,
    tools: list[McpServerTool] | None = None,
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None,
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None,
    metadata: Metadata = None,
) -> dict[str, Any]:
    user = request_user(ctx)
    arguments = {
        "model": model,
        "name": name,
        "instructions": instructions,
        "description": description,
        "tools": tools,
        "temperature": temperature,
        "top_p": top_p,
        "metadata": metadata,
    }
    given = arguments_given(ctx)
    # Null is "clear" only where the field can be empty; elsewhere an explicit null is "leave as it is".
    clearable = ("temperature", "top_p")
    values = {
        key: value for key, value in arguments.items() if key in given and (value is not None or key in clearable)
    }
    if "tools" in given and tools is None:
        values["tools"] = []

    def updated() -> dict[str, Any]:
        assistant = assistant_get(user=user, assistant_id=assistant_id, for_update=True)
        fields = _assistant_fields(user, values, assistant=assistant)
        return _assistant_read(assistant_update(user=user, assistant=assistant, **fields))

    return await sync_to_async(updated)()


@mcp_tool("Delete an assistant you own. Its threads stay.", destructive=True)
async def delete_assistant(ctx: Context, assistant_id: AssistantId) -> dict[str, Any]:
    user = request_user(ctx)

    def deleted() -> dict[str, Any]:
        assistant_delete(user=user, assistant=assistant_get(user=user, assistant_id=assistant_id, for_update=True))
        return deleted_object(assistant_id, "assistant")

    return await sync_to_async(deleted)()
