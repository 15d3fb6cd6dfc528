"""A run's prompt-token limit (`max_prompt_tokens`) and its truncation strategy, as OpenAI's Assistants runs had them.

The limit counts the prompt tokens of all the run's model calls together. Before each call the call's input is
estimated; under truncation `auto` the oldest messages are dropped until it fits what is left, and a call that
still does not fit ends the run `incomplete` (reason `max_prompt_tokens`) instead of being made. Tokens are
estimated as the files app counts them for chunking; a provider's own count is what the run's usage keeps, and
the recorder ends a run incomplete once that count is past the limit too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agents.run_config import CallModelData, ModelInputData

from chat.errors import PromptTokenLimit
from chat.models import Run
from chat.selectors import model_input_last_messages
from files.extract import tokens_count

if TYPE_CHECKING:
    from chat.recorder import RunRecorder


def run_last_messages(run: Run) -> int | None:
    """How many of the conversation's last messages the run reads (None: all of them)."""
    strategy = (run.overrides or {}).get("truncation_strategy") or {}
    return strategy.get("last_messages") if strategy.get("type") == "last_messages" else None


def prompt_tokens_estimate(instructions: str | None, items: list[Any]) -> int:
    """The prompt tokens a model call with these instructions and input items will take, near enough."""
    return tokens_count(instructions or "") + sum(tokens_count(json.dumps(item, default=str)) for item in items)


class PromptBudget:
    """The run's model-input filter (the Agents SDK's `call_model_input_filter`): fit each call to what is left."""

    def __init__(self, run: Run, recorder: RunRecorder, limit: int) -> None:
        self.run, self.recorder, self.limit = run, recorder, limit
        self.auto = run_last_messages(run) is None

    def left(self) -> int:
        return self.limit - self.run.prompt_tokens - self.recorder.account.used["prompt_tokens"]

    def __call__(self, data: CallModelData[Any]) -> ModelInputData:
        left, items = self.left(), data.model_data.input
        instructions = data.model_data.instructions
        messages = sum(1 for item in items if isinstance(item, dict) and "role" in item)
        # The newest message is never dropped: without it the call would answer nothing.
        while self.auto and messages > 1 and prompt_tokens_estimate(instructions, items) > left:
            messages -= 1
            items = model_input_last_messages(items, messages)
        if prompt_tokens_estimate(instructions, items) > left:
            raise PromptTokenLimit
        return ModelInputData(input=items, instructions=instructions)


def prompt_budget(run: Run, recorder: RunRecorder) -> PromptBudget | None:
    """The filter that keeps the run within its max_prompt_tokens, if it has one."""
    limit = (run.overrides or {}).get("max_prompt_tokens")
    return PromptBudget(run, recorder, limit) if limit else None
