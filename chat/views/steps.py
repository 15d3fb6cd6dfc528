"""What a tool call's card opens: its whole output, its images and audio, its resource links and its view."""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.views.decorators.http import require_GET

from chat.models import RunStep
from chat.services import mcp_context
from chat.tool_results import app_tool_result, app_uri, part_payload
from chat.views.conversations import conversation_get_or_404
from core.errors import ServiceError


@login_required
@require_GET
def step_output(request: HttpRequest, thread_id: str, step_id: str) -> HttpResponse:
    """A tool call's whole result, as plain text: the page shows it cut short past a limit."""
    step = _tool_step(request, thread_id, step_id)
    response = HttpResponse(step.output or step.error, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def step_content(request: HttpRequest, thread_id: str, step_id: str, index: int) -> HttpResponse:
    """An image or audio clip a tool returned, for its card; only the types a browser shows and runs no script in."""
    payload = part_payload(_tool_step(request, thread_id, step_id), index)
    if payload is None:
        raise Http404("No such part")
    data, mime_type = payload
    response = HttpResponse(data, content_type=mime_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _tool_step(request: HttpRequest, thread_id: str, step_id: str) -> RunStep:
    """A tool call's step in one of the user's conversations; 404 for anyone else's."""
    conversation = conversation_get_or_404(request, thread_id)
    step = RunStep.objects.filter(pk=step_id, run__conversation=conversation, type=RunStep.Type.TOOL_CALLS).first()
    if step is None:
        raise Http404("Tool call not found")
    return step


@login_required
@require_GET
async def step_resource(request: HttpRequest, thread_id: str, step_id: str, index: int) -> HttpResponse:
    """What a tool's resource link points to, read from its server (`resources/read`) for the owner, as text."""
    step = await sync_to_async(_tool_step)(request, thread_id, step_id)
    parts = step.content or []
    if not 0 <= index < len(parts) or parts[index]["type"] != "resource_link":
        raise Http404("No such resource link")
    try:
        read = await mcp_context.conversation_mcp_resource(
            user=await request.auser(), thread_id=thread_id, server_name=step.server_name, uri=parts[index]["uri"]
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(read["text"], content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# A tool's view runs the server's own script, so its document is sandboxed whoever opens it (the `sandbox` directive:
# an opaque origin, no same-origin access to Switchboard, no top navigation, popups or forms) and reaches nothing
# outside itself: inline script and style only, images and fonts inline, no connections, no frames, no plugins.
APP_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; media-src data:; "
    "font-src data:; connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox allow-scripts"
)


@login_required
@require_GET
async def step_app(request: HttpRequest, thread_id: str, step_id: str) -> HttpResponse:
    """A tool's view (MCP Apps): the HTML of its `ui://` resource, read from its server for the owner, for the
    sandboxed frame on its card."""
    step = await sync_to_async(_tool_step)(request, thread_id, step_id)
    uri = app_uri(step)
    if not uri:
        raise Http404("This tool call has no view")
    try:
        html = await mcp_context.conversation_mcp_app(
            user=await request.auser(), thread_id=thread_id, server_name=step.server_name, uri=uri
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        html, status = f"<!doctype html><title>No view</title><p>{escape(exc.message)}</p>", 502
    else:
        status = 200
    response = HttpResponse(html, content_type="text/html; charset=utf-8", status=status)
    response["Content-Security-Policy"] = APP_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def step_app_data(request: HttpRequest, thread_id: str, step_id: str) -> JsonResponse:
    """What the page sends a tool's view (MCP Apps): the call's arguments and its result as MCP has it."""
    step = _tool_step(request, thread_id, step_id)
    if not app_uri(step):
        raise Http404("This tool call has no view")
    try:
        arguments = json.loads(step.arguments or "{}")
    except ValueError:
        arguments = {}
    return JsonResponse(
        {
            "tool": {"name": step.tool_name},
            "arguments": arguments if isinstance(arguments, dict) else {},
            "result": app_tool_result(step),
        }
    )
