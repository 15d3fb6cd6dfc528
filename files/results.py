"""What the file_search tool hands the model: its results as JSON, each with the marker the model cites it by
(`【<search>:<result>†<file name>】`, as OpenAI's models cite), and the reading of that JSON back (run steps and
citations are made from it, so nothing is stored twice)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from files.services import SearchResult

CITE_NOTE = (
    "Answer from these passages. After each sentence that uses one, write its marker exactly as given (for "
    "example 【0:1†notes.md】): the reader sees which file it comes from."
)
# The marker's file name is the reader's hint only: a citation is found by the whole marker.
MARKER = re.compile(r"【\d+:\d+†[^】\n]{0,255}】")
DEFAULT_RANKING = {"ranker": "default_2024_08_21", "score_threshold": 0.0}


def marker(search: int, index: int, filename: str) -> str:
    name = filename.replace("】", "").replace("\n", " ")[:200] or "source"
    return f"【{search}:{index}†{name}】"


def results_output(
    *, search: int, query: str, results: Sequence[tuple[SearchResult, float]], ranking: dict[str, Any]
) -> str:
    """The tool's output for one search (its `search`-th in the run): the results, best first, with their scores."""
    return json.dumps(
        {
            "query": query,
            "ranking_options": {**DEFAULT_RANKING, **ranking},
            "results": [
                {
                    "marker": marker(search, index, result.filename),
                    "file_id": result.file_id,
                    "file_name": result.filename,
                    "score": round(score, 4),
                    "text": result.text,
                }
                for index, (result, score) in enumerate(results)
            ],
            "note": CITE_NOTE if results else f"No passage of the attached files matches {query[:200]!r}.",
        },
        ensure_ascii=False,
    )


def results_parse(output: str) -> dict[str, Any] | None:
    """A file_search output as `results_output` wrote it; None for anything else (an error's text)."""
    if not output or not output.startswith("{"):
        return None
    try:
        data = json.loads(output)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return None
    return data
