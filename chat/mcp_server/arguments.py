"""Argument types the tools share, and the shapes their answers share."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from core.api import LIMIT_MAX, PageParams

AssistantId = Annotated[str, Field(description="An assistant id (asst_…).", max_length=64)]
ThreadId = Annotated[str, Field(description="A thread id (thread_…).", max_length=64)]
RunId = Annotated[str, Field(description="A run id (run_…).", max_length=64)]
Metadata = Annotated[
    dict[str, str] | None,
    Field(description="Up to 16 string pairs; keys up to 64 characters, values up to 512."),
]
Limit = Annotated[int, Field(description="How many objects to return.", ge=1, le=LIMIT_MAX)]
Order = Annotated[Literal["asc", "desc"], Field(description="Sort by creation time: 'asc' or 'desc'.")]
After = Annotated[str | None, Field(description="Return objects after this id (the previous page's last_id).")]
Before = Annotated[str | None, Field(description="Return objects before this id.")]


class McpServerTool(BaseModel):
    """An MCP server the assistant may call, as in the Assistants API's `tools`."""

    type: Literal["mcp"] = "mcp"
    server_label: str = Field(description="The MCP server's name.")


class MessageInput(BaseModel):
    role: Literal["user", "assistant"] = Field("user", description="Who wrote the message.")
    content: str = Field(description="The message text.")
    metadata: dict[str, str] | None = None


def page_params(limit: int, order: str, after: str | None, before: str | None) -> PageParams:
    return PageParams(limit=limit, order=order, after=after or None, before=before or None)


def deleted_object(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": f"{kind}.deleted", "deleted": True}
