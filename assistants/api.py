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
from files.services import SEARCH_RESULTS_MAX, vector_store_ids_check
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
    "tool_resources",
)
UNSUPPORTED = ("reasoning_effort",)
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


def function_parse(tool: dict[str, Any], *, param: str, known: list[dict[str, Any]]) -> dict[str, Any]:
    """One `{"type": "function", "function": {...}}` tool: its function definition, checked, and named unlike the
    `known` ones before it."""
    fields_check(tool, known=("type", "function"), prefix=f"{param}.")
    function = tool.get("function")
    problem = function_problem(function)
    if problem:
        raise invalid(f"The function {problem}", param=f"{param}.function", code="invalid_value")
    if any(other["name"] == function["name"] for other in known):
        raise invalid(f"Two function tools are named {function['name']!r}.", param=f"{param}.function.name")
    return function


def file_search_parse(tool: dict[str, Any], *, param: str) -> dict[str, Any]:
    """One `{"type": "file_search", "file_search": {"max_num_results", "ranking_options"}}` tool: its settings."""
    fields_check(tool, known=("type", "file_search"), prefix=f"{param}.")
    options = tool.get("file_search") or {}
    if not isinstance(options, dict):
        raise invalid("'file_search' must be an object.", param=f"{param}.file_search", code="invalid_type")
    fields_check(options, known=("max_num_results", "ranking_options"), prefix=f"{param}.file_search.")
    settings: dict[str, Any] = {}
    limit = options.get("max_num_results")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= SEARCH_RESULTS_MAX:
            raise invalid(
                f"'max_num_results' must be a whole number from 1 to {SEARCH_RESULTS_MAX}.",
                param=f"{param}.file_search.max_num_results",
            )
        settings["max_num_results"] = limit
    ranking = options.get("ranking_options")
    if ranking is not None:
        where = f"{param}.file_search.ranking_options"
        if not isinstance(ranking, dict):
            raise invalid("'ranking_options' must be an object.", param=where, code="invalid_type")
        fields_check(ranking, known=("ranker", "score_threshold"), prefix=f"{where}.")
        if ranking.get("ranker", "auto") not in ("auto", "default_2024_08_21"):
            raise invalid("'ranker' must be 'auto' or 'default_2024_08_21'.", param=f"{where}.ranker")
        threshold = ranking.get("score_threshold", 0)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise invalid("'score_threshold' must be a number from 0 to 1.", param=f"{where}.score_threshold")
        settings["ranking_options"] = {"ranker": ranking.get("ranker", "auto"), "score_threshold": threshold}
    return settings


def tool_resources_parse(user: Any, value: Any, *, param: str = "tool_resources") -> dict[str, Any]:
    """`tool_resources`: the user's vector stores for file_search ({"file_search": {"vector_store_ids": […]}})."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"'{param}' must be an object.", param=param, code="invalid_type")
    fields_check(value, known=("file_search",), unsupported=("code_interpreter",), prefix=f"{param}.")
    search = value.get("file_search")
    if search is None:
        return {}
    if not isinstance(search, dict):
        raise invalid("'file_search' must be an object.", param=f"{param}.file_search", code="invalid_type")
    fields_check(search, known=("vector_store_ids",), unsupported=("vector_stores",), prefix=f"{param}.file_search.")
    ids = vector_store_ids_check(
        user=user, vector_store_ids=search.get("vector_store_ids") or [], param=f"{param}.file_search.vector_store_ids"
    )
    return {"file_search": {"vector_store_ids": ids}} if ids else {}


def tools_parse(
    user: Any, tools: Any, *, assistant: Assistant | None = None
) -> tuple[list[MCPServer], list[dict], dict[str, Any] | None]:
    """Resolve `tools` to MCP servers the user may attach ({"type": "mcp", "server_label": …}), function tools
    ({"type": "function", "function": {…}}) and the file_search tool's settings (None: no file search)."""
    if not isinstance(tools, list):
        raise invalid("'tools' must be a list.", param="tools", code="invalid_type")
    allowed = {server.name: server for server in mcp_server_usable(user=user)}
    if assistant is not None:
        # A server already on the assistant may stay even if the user could not add it today.
        allowed.update({server.name: server for server in assistant.mcp_servers.all()})
    servers: list[MCPServer] = []
    functions: list[dict] = []
    file_search: dict[str, Any] | None = None
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid("Each tool must be an object.", param=param, code="invalid_type")
        if tool.get("type") == "file_search":
            file_search = file_search_parse(tool, param=param)
            continue
        if tool.get("type") == "function":
            functions.append(function_parse(tool, param=param, known=functions))
            continue
        if tool.get("type") != "mcp":
            raise invalid(
                f"Tool type {str(tool.get('type'))[:40]!r} is not supported; use function tools "
                '({"type": "function", "function": {…}}), file_search ({"type": "file_search"}) or MCP servers '
                '({"type": "mcp", "server_label": "<name>"}).',
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
    return servers, functions, file_search


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
        fields["mcp_servers"], fields["functions"], fields["file_search"] = tools_parse(
            user, data["tools"] or [], assistant=assistant
        )
    if "tool_resources" in data:
        fields["tool_resources"] = tool_resources_parse(user, data["tool_resources"])
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
