"""file_search in a conversation: its run steps in OpenAI's shape, and the `file_citation` annotations an answer
gets for the result markers it wrote (files.results)."""

from __future__ import annotations

import json
from typing import Any

from assistants.services import FILE_SEARCH_TOOL
from chat.models import Conversation, RunStep
from files.results import MARKER, results_parse


def is_file_search(step: RunStep) -> bool:
    """A call of the run's own file_search tool (not an MCP tool that happens to share the name)."""
    return step.type == RunStep.Type.TOOL_CALLS and step.tool_name == FILE_SEARCH_TOOL and not step.server_name


def file_search_call(step: RunStep, *, content: bool) -> dict[str, Any]:
    """The step's tool call as OpenAI shows a file_search: its ranking options and results, each result's text
    only with `content` (the API's include[]=step_details.tool_calls[*].file_search.results[*].content)."""
    found = results_parse(step.output) or {}
    results = []
    for result in found.get("results") or []:
        shown = {"file_id": result.get("file_id"), "file_name": result.get("file_name"), "score": result.get("score")}
        if content:
            shown["content"] = [{"type": "text", "text": result.get("text", "")}]
        results.append(shown)
    search: dict[str, Any] = {"ranking_options": found.get("ranking_options") or {}, "results": results}
    return {"id": step.tool_call_id, "type": "file_search", "file_search": search}


def citations_of(step: RunStep) -> dict[str, str]:
    """The markers a file_search step's results can be cited by, each with its file's id."""
    found = results_parse(step.output) if is_file_search(step) else None
    if found is None:
        return {}
    return {
        result["marker"]: result["file_id"]
        for result in found["results"]
        if isinstance(result, dict) and isinstance(result.get("marker"), str) and isinstance(result.get("file_id"), str)
    }


def annotations_find(text: str, cited: dict[str, str]) -> list[dict[str, Any]]:
    """A `file_citation` annotation for each marker in the text that names a result the run found."""
    annotations = []
    for match in MARKER.finditer(text):
        file_id = cited.get(match.group())
        if file_id is not None:
            annotations.append(
                {
                    "type": "file_citation",
                    "text": match.group(),
                    "start_index": match.start(),
                    "end_index": match.end(),
                    "file_citation": {"file_id": file_id},
                }
            )
    return annotations


def thread_vector_store_ids(conversation: Conversation) -> list[str]:
    """The vector stores a thread's own tool_resources give its runs' file_search."""
    return list(((conversation.tool_resources or {}).get("file_search") or {}).get("vector_store_ids") or [])


def file_search_query(step: RunStep) -> str:
    """What a file_search step searched for (its call's arguments), for its card."""
    try:
        query = json.loads(step.arguments or "{}").get("query")
    except (ValueError, AttributeError):
        return ""
    return query if isinstance(query, str) else ""


def file_search_card(step: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """A file_search call as the chat page's tool card draws a function call: its query and its results."""
    results = (call.get("file_search") or {}).get("results") or []
    lines = []
    for number, result in enumerate(results, start=1):
        text = " ".join("".join(part.get("text", "") for part in result.get("content") or []).split())
        lines.append(f"{number}. {result.get('file_name')} (score {result.get('score')})\n{text}".rstrip())
    output = "\n\n".join(lines) or "Nothing in the files matched."
    query = (step.get("metadata") or {}).get("query", "")
    return {**call, "function": {"name": FILE_SEARCH_TOOL, "arguments": json.dumps({"query": query}), "output": output}}
