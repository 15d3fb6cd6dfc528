"""Assistants in the OpenAI Assistants v2 wire format: create, list, retrieve, modify, delete.

`model` picks the provider too: "<provider name>/<model>", "<provider name>" (its default model),
or a model that is some enabled provider's default. MCP servers appear in `tools` as
{"type": "mcp", "server_label": "<server name>"} and are set the same way.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from assistants.models import Assistant, Provider, function_problem, response_format_problem
from assistants.serializers import assistant_object
from assistants.services import (
    assistant_create,
    assistant_delete,
    assistant_get,
    assistant_update,
    mcp_server_usable,
    provider_usable,
)
from core.api import api_view, body_parse, fields_check, invalid, number, page, page_params, string
from mcp_servers.models import MCPServer

FIELDS = (
    "model",
    "name",
    "description",
    "instructions",
    "tools",
    "metadata",
    "temperature",
    "top_p",
    "response_format",
)
UNSUPPORTED = ("tool_resources", "reasoning_effort")
DEFAULT_NAME = "Assistant"
# The services name fields as the model does; the API names them as OpenAI does.
PARAMS = {"mcp_servers": "tools", "provider": "model"}


def _provider_and_model(user: Any, model: str) -> tuple[Provider, str]:
    """Resolve `model` to a provider the user may pick and the model name to store."""
    providers = list(provider_usable(user=user))
    for provider in providers:
        if model == provider.name:
            return provider, ""
    prefix, _, rest = model.partition("/")
    for provider in providers:
        if rest and prefix == provider.name:
            return provider, rest
    for provider in providers:
        if provider.default_model and model == provider.default_model:
            return provider, model
    names = ", ".join(repr(p.name) for p in providers) or "none"
    raise invalid(
        f"Unknown model '{model}'. Use '<provider>/<model>', '<provider>' for its default model, or a provider's "
        f"default model; enabled providers: {names}.",
        param="model",
        code="model_not_found",
    )


def response_format_parse(value: Any, *, param: str = "response_format") -> Any:
    """An Assistants `response_format`, checked: "auto", text, json_object, or json_schema with a valid schema."""
    problem = response_format_problem(value)
    if problem:
        raise invalid(f"The response format {problem}", param=param, code="invalid_value")
    return value


def function_parse(tool: dict[str, Any], *, param: str) -> dict[str, Any]:
    """One `{"type": "function", "function": {...}}` tool: its function definition, checked."""
    fields_check(tool, known=("type", "function"), prefix=f"{param}.")
    function = tool.get("function")
    problem = function_problem(function)
    if problem:
        raise invalid(f"The function {problem}", param=f"{param}.function", code="invalid_value")
    return function


def tools_parse(user: Any, tools: Any, *, assistant: Assistant | None = None) -> tuple[list[MCPServer], list[dict]]:
    """Resolve `tools` to MCP servers the user may attach ({"type": "mcp", "server_label": …}) and function tools
    ({"type": "function", "function": {…}})."""
    if not isinstance(tools, list):
        raise invalid("'tools' must be a list.", param="tools", code="invalid_type")
    allowed = {server.name: server for server in mcp_server_usable(user=user)}
    if assistant is not None:
        # A server already on the assistant may stay even if the user could not add it today.
        allowed.update({server.name: server for server in assistant.mcp_servers.all()})
    servers: list[MCPServer] = []
    functions: list[dict] = []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid("Each tool must be an object.", param=param, code="invalid_type")
        if tool.get("type") == "function":
            function = function_parse(tool, param=param)
            if any(known["name"] == function["name"] for known in functions):
                raise invalid(f"Two function tools are named {function['name']!r}.", param=f"{param}.function.name")
            functions.append(function)
            continue
        if tool.get("type") != "mcp":
            raise invalid(
                f"Tool type {str(tool.get('type'))[:40]!r} is not supported; use function tools "
                '({"type": "function", "function": {…}}) or MCP servers ({"type": "mcp", "server_label": "<name>"}).',
                param=f"{param}.type",
                code="invalid_value",
            )
        fields_check(tool, known=("type", "server_label"), prefix=f"{param}.")
        label = tool.get("server_label")
        server = allowed.get(label) if isinstance(label, str) else None
        if server is None:
            raise invalid(
                f"No MCP server you may use is labelled {str(label)[:100]!r}.",
                param=f"{param}.server_label",
                code="invalid_value",
            )
        if server not in servers:
            servers.append(server)
    return servers, functions


def assistant_fields_parse(user: Any, data: dict[str, Any], *, assistant: Assistant | None = None) -> dict[str, Any]:
    """Map an OpenAI assistant body to service arguments; only the fields given."""
    fields_check(data, known=FIELDS, unsupported=UNSUPPORTED)
    fields: dict[str, Any] = {}
    if data.get("response_format") is not None:
        fields["response_format"] = response_format_parse(data["response_format"])
    for name in ("name", "description", "instructions"):
        if name in data:
            value = string(data, name)
            fields[name] = value or ("" if name != "name" else DEFAULT_NAME)
    for name in ("temperature", "top_p"):
        if name in data:
            fields[name] = number(data, name)
    if "metadata" in data:
        fields["metadata"] = data["metadata"]
    if "tools" in data:
        fields["mcp_servers"], fields["functions"] = tools_parse(user, data["tools"] or [], assistant=assistant)
    model = string(data, "model", required=assistant is None, nullable=False)
    if model is not None:
        fields["provider"], fields["model"] = _provider_and_model(user, model)
    return fields


@api_view("GET", "POST", params=PARAMS)
def assistants(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        fields = assistant_fields_parse(request.user, body_parse(request))
        fields.setdefault("name", DEFAULT_NAME)
        assistant = assistant_create(user=request.user, **fields)
        return JsonResponse(assistant_object(assistant))
    params = page_params(request)
    queryset = Assistant.objects.usable_by(request.user).select_related("provider").prefetch_related("mcp_servers")
    return JsonResponse(page(queryset, params, assistant_object))


@api_view("GET", "POST", "DELETE", params=PARAMS)
def assistant_detail(request: HttpRequest, assistant_id: str) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse(assistant_object(assistant_get(user=request.user, assistant_id=assistant_id)))
    assistant = assistant_get(user=request.user, assistant_id=assistant_id, for_update=True)
    if request.method == "DELETE":
        assistant_delete(user=request.user, assistant=assistant)
        return JsonResponse({"id": assistant_id, "object": "assistant.deleted", "deleted": True})
    fields = assistant_fields_parse(request.user, body_parse(request), assistant=assistant)
    assistant = assistant_update(user=request.user, assistant=assistant, **fields)
    return JsonResponse(assistant_object(assistant))
