"""The composer's picker: the resources and prompts of a conversation's MCP servers, as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from chat.services import mcp_context
from core.errors import ServiceError


def _json_error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


async def _mcp_answer(call: Any, request: HttpRequest, thread_id: str, **fields: Any) -> JsonResponse:
    """Run one of the composer picker's services for the signed-in user: its answer, or its error and status."""
    try:
        return JsonResponse(await call(user=await request.auser(), thread_id=thread_id, **fields))
    except ServiceError as exc:
        return _json_error(exc.code, exc.message, exc.status)


def _json_object(request: HttpRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@login_required
@require_GET
async def conversation_mcp_catalog(request: HttpRequest, thread_id: str) -> JsonResponse:
    """The resources and prompts of the conversation's MCP servers, for the composer's picker."""
    return await _mcp_answer(mcp_context.conversation_mcp_catalog, request, thread_id)


@login_required
@require_POST
async def conversation_mcp_resource(request: HttpRequest, thread_id: str) -> JsonResponse:
    """A resource's contents (`{"server", "uri"}`), to go into the message."""
    body = _json_object(request)
    if body is None:
        return _json_error("invalid_json", "Send a JSON object.", 400)
    return await _mcp_answer(
        mcp_context.conversation_mcp_resource, request, thread_id, server_name=body.get("server"), uri=body.get("uri")
    )


@login_required
@require_POST
async def conversation_mcp_prompt(request: HttpRequest, thread_id: str) -> JsonResponse:
    """A prompt rendered with its arguments (`{"server", "name", "arguments"}`), to fill the message box."""
    body = _json_object(request)
    if body is None:
        return _json_error("invalid_json", "Send a JSON object.", 400)
    return await _mcp_answer(
        mcp_context.conversation_mcp_prompt,
        request,
        thread_id,
        server_name=body.get("server"),
        name=body.get("name"),
        arguments=body.get("arguments"),
    )
