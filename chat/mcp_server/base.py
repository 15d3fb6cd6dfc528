"""The server itself: who each request acts for, and how tools register and refuse."""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_REQUEST,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
)
from mcp_types import ToolAnnotations

from chat import mcp_catalog
from core.api import ApiError
from core.errors import ServiceError

# Where the Streamable HTTP endpoint leaves the authenticated user in the request's ASGI scope.
SCOPE_USER_KEY = "switchboard.user"
NOT_AUTHENTICATED = "Not authenticated: connect with a Switchboard API token."


def _version() -> str:
    """This installation's version, as serverInfo says it."""
    try:
        return importlib.metadata.version("switchboard")
    except importlib.metadata.PackageNotFoundError:
        return tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["version"]


acting_user: ContextVar[AbstractBaseUser | None] = ContextVar("switchboard_mcp_user", default=None)


class SwitchboardMCPServer(MCPServer):
    """The MCP server: tools registered as usual; resources and prompts are the asking user's own, so they are
    listed and read per request (`chat.mcp_catalog`) rather than registered once for everyone."""

    async def _handle_list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        resources, next_cursor = await _catalog_page(ctx, params, mcp_catalog.resources_list)
        return ListResourcesResult(resources=resources, next_cursor=next_cursor)

    async def _handle_list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        _catalog_user(ctx)
        return ListResourceTemplatesResult(resource_templates=mcp_catalog.TEMPLATES)

    async def _handle_read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        user = _catalog_user(ctx)
        contents = await sync_to_async(mcp_catalog.resource_read)(user=user, uri=str(params.uri))
        return ReadResourceResult(contents=contents)

    async def _handle_list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        prompts, next_cursor = await _catalog_page(ctx, params, mcp_catalog.prompts_list)
        return ListPromptsResult(prompts=prompts, next_cursor=next_cursor)

    async def _handle_get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: GetPromptRequestParams
    ) -> GetPromptResult:
        user = _catalog_user(ctx)
        return await sync_to_async(mcp_catalog.prompt_get)(user=user, name=params.name, arguments=params.arguments)


server = SwitchboardMCPServer(
    name="switchboard",
    title="Switchboard",
    version=_version(),
    instructions=(
        "Manage Switchboard assistants and chat with them. Typical use: list_assistants (or create_assistant), "
        "create_thread, create_message, then create_run, which waits for the answer; read it with list_messages. "
        "Objects are OpenAI Assistants v2 JSON."
    ),
)

P = ParamSpec("P")
R = TypeVar("R")


# --- Who is asking, and errors as tool errors -------------------------------------------------------------------


def http_user(request_context: ServerRequestContext[Any, Any]) -> AbstractBaseUser | None:
    """The user a Streamable HTTP request was authenticated as; None on the other transports."""
    scope = getattr(request_context.request, "scope", None)
    return scope.get(SCOPE_USER_KEY) if isinstance(scope, dict) else None


def _user(request_context: ServerRequestContext[Any, Any]) -> AbstractBaseUser | None:
    user = http_user(request_context)
    return user if user is not None else acting_user.get()


def request_user(ctx: Context) -> AbstractBaseUser:
    """The user this request acts for, as its transport authenticated them."""
    user = _user(ctx.request_context)
    if user is None:
        raise ToolError(NOT_AUTHENTICATED)
    return user


def _catalog_user(request_context: ServerRequestContext[Any, Any]) -> AbstractBaseUser:
    """The user a resources or prompts request acts for."""
    user = _user(request_context)
    if user is None:
        raise MCPError(INVALID_REQUEST, NOT_AUTHENTICATED)
    return user


async def _catalog_page(
    request_context: ServerRequestContext[Any, Any],
    params: PaginatedRequestParams | None,
    lister: Callable[..., tuple[list[Any], str | None]],
) -> tuple[list[Any], str | None]:
    """One page of a resources or prompts list, for the user the request acts for."""
    user = _catalog_user(request_context)
    return await sync_to_async(lister)(user=user, cursor=params.cursor if params else None)


def _error_text(exc: Exception) -> str | None:
    """Readable text for a refused request; None for anything unexpected."""
    if isinstance(exc, ServiceError):
        return exc.text()
    if isinstance(exc, ApiError):  # the API's argument parsers, reused for assistant fields
        return f"{exc.message} (param: {exc.param})" if exc.param else exc.message
    return None


def mcp_tool(
    description: str, *, read_only: bool = False, destructive: bool = False
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Register a tool whose refused requests come back as tool errors (is_error results) with readable text."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except ToolError:
                raise
            except Exception as exc:
                text = _error_text(exc)
                if text is None:
                    raise
                raise ToolError(text) from None

        hints = ToolAnnotations(read_only_hint=read_only, destructive_hint=destructive if not read_only else None)
        server.add_tool(wrapper, description=description, annotations=hints)
        return wrapper

    return decorate


def arguments_given(ctx: Context) -> set[str]:
    """The argument names the caller actually sent, so an update changes only those fields."""
    params = ctx.request_context.params or {}
    arguments = params.get("arguments") or {}
    return set(arguments) if isinstance(arguments, dict) else set()
