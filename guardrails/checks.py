"""One check per guardrail kind: each reads a text and says why it refuses it ("" when it passes)."""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

import phonenumbers
import regex
from agents import Agent, RunConfig, Runner
from agents.tracing import get_current_trace
from email_validator import EmailNotValidError, validate_email
from stdnum import luhn

from assistants.factory import model_build, provider_client
from assistants.models import Assistant, Provider
from guardrails.models import Guardrail

MODERATION_MODEL = "omni-moderation-latest"
# A judge reads at most this much of the text: a yes/no question needs no more, and it bounds the judge's cost.
JUDGE_TEXT_CHARS = 20_000
# How long a blocklist's regular expressions may take on one text, together.
PATTERNS_SECONDS = 0.25

# Candidates only: the library (or the Luhn checksum) decides whether each one is what it looks like.
# Quotes of every kind end a candidate too: “jane@example.org” is an address in quotes.
_NOT_EMAIL = r"\s@<>()\[\],;:\"'“”‘’«»"
_EMAIL_CANDIDATE = re.compile(rf"[^{_NOT_EMAIL}]+@[^{_NOT_EMAIL}]+\.[^{_NOT_EMAIL}]+")
_CARD_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


class Check:
    """A guardrail kind. `refusal` returns why the text is refused, or "" when it passes."""

    kinds: ClassVar[dict[str, type[Check]]] = {}
    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Check.kinds[cls.kind] = cls

    def __init__(self, guardrail: Guardrail, assistant: Assistant) -> None:
        self.guardrail = guardrail
        self.assistant = assistant

    async def refusal(self, text: str) -> str:
        raise NotImplementedError


class BlocklistCheck(Check):
    kind = Guardrail.Kind.BLOCKLIST

    async def refusal(self, text: str) -> str:
        for word in self.guardrail.words:
            if re.search(rf"(?<!\w){re.escape(word.strip())}(?!\w)", text, re.IGNORECASE):
                return f"it contains the blocked word “{word.strip()}”."
        # An owner's pattern may backtrack for ages on some text; the checks share a time limit, and a text the
        # patterns cannot be checked against in time is refused rather than let through unchecked.
        deadline = time.monotonic() + PATTERNS_SECONDS
        for pattern in self.guardrail.patterns:
            try:
                found = regex.search(pattern, text, timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                return f"it could not be checked against the blocked pattern “{pattern}” in time."
            if found:
                return f"it matches the blocked pattern “{pattern}”."
        return ""


class MaxLengthCheck(Check):
    kind = Guardrail.Kind.MAX_LENGTH

    async def refusal(self, text: str) -> str:
        limit = self.guardrail.max_chars or 0
        if len(text) > limit:
            return f"it has {len(text):,} characters, more than the {limit:,} allowed."
        return ""


def _has_email(text: str) -> bool:
    for candidate in _EMAIL_CANDIDATE.findall(text):
        try:
            validate_email(candidate.rstrip("."), check_deliverability=False)
        except EmailNotValidError:
            continue
        return True
    return False


def _has_phone(text: str, region: str) -> bool:
    matcher = phonenumbers.PhoneNumberMatcher(text, region or None, leniency=phonenumbers.Leniency.VALID)
    return matcher.has_next()


def _has_card(text: str) -> bool:
    for candidate in _CARD_CANDIDATE.findall(text):
        digits = re.sub(r"[ -]", "", candidate)
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            return True
    return False


class PIICheck(Check):
    kind = Guardrail.Kind.PII
    # Named, never quoted: the refusal is shown and stored, and must not repeat the personal data.
    found = {"email": "an email address", "phone": "a phone number", "card": "a payment card number"}

    async def refusal(self, text: str) -> str:
        kinds = self.guardrail.pii_types
        if "email" in kinds and _has_email(text):
            return f"it contains {self.found['email']}."
        if "card" in kinds and _has_card(text):
            return f"it contains {self.found['card']}."
        if "phone" in kinds and _has_phone(text, self.guardrail.phone_region):
            return f"it contains {self.found['phone']}."
        return ""


class ModerationCheck(Check):
    kind = Guardrail.Kind.MODERATION

    def provider(self) -> Provider | None:
        provider = self.guardrail.provider or self.assistant.provider
        return provider if provider.kind == Provider.Kind.OPENAI else None

    async def refusal(self, text: str) -> str:
        provider = self.provider()
        if provider is None:
            # A mandatory moderation guardrail without its own provider checks only OpenAI assistants.
            return ""
        result = await provider_client(provider).moderations.create(model=MODERATION_MODEL, input=text)
        flagged = [outcome for outcome in result.results if outcome.flagged]
        if not flagged:
            return ""
        categories = sorted(
            name for outcome in flagged for name, hit in outcome.categories.model_dump(by_alias=True).items() if hit
        )
        return f"the provider's moderation flagged it ({', '.join(categories) or 'no category given'})."


class JudgeCheck(Check):
    kind = Guardrail.Kind.LLM_JUDGE
    instructions = "You check texts for another assistant. Answer the question about the text with one word, yes or no."

    async def refusal(self, text: str) -> str:
        judge = self.guardrail.judge
        agent = Agent(
            name=judge.name,
            instructions="\n\n".join(part for part in (self.instructions, judge.instructions) if part),
            model=model_build(provider=judge.provider, model_name=judge.model_name),
        )
        prompt = f"{self.guardrail.question}\n\nThe text:\n\n{text[:JUDGE_TEXT_CHARS]}\n\nAnswer yes or no."
        # Within a run, the judge's model call is part of the run's trace; asked outside one, it makes no trace.
        config = RunConfig(trace_include_sensitive_data=False, tracing_disabled=get_current_trace() is None)
        result = await Runner.run(agent, input=prompt, max_turns=1, run_config=config)
        answer = str(result.final_output or "").strip().lower()
        if re.match(r"^\W*yes\b", answer):
            return f"{judge.name} answered yes to “{self.guardrail.question}”."
        return ""


def check_for(guardrail: Guardrail, assistant: Assistant) -> Check:
    return Check.kinds[guardrail.kind](guardrail, assistant)
