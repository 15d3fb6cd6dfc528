"""Guardrails: checks on a run's input (the user's message) and output (the answer) that stop it when they trip."""

from __future__ import annotations

import regex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from assistants.models import Assistant, Provider

PATTERNS_MAX = 100
PATTERN_CHARS_MAX = 500
PII_TYPES = ("email", "phone", "card")


def validate_words(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(word, str) and word.strip() for word in value):
        raise ValidationError("Enter a list of words or phrases.")
    if len(value) > PATTERNS_MAX:
        raise ValidationError(f"Enter at most {PATTERNS_MAX} words.")


def validate_patterns(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(pattern, str) and pattern for pattern in value):
        raise ValidationError("Enter a list of regular expressions.")
    if len(value) > PATTERNS_MAX:
        raise ValidationError(f"Enter at most {PATTERNS_MAX} regular expressions.")
    for pattern in value:
        if len(pattern) > PATTERN_CHARS_MAX:
            raise ValidationError(f"A regular expression may have at most {PATTERN_CHARS_MAX} characters.")
        try:
            regex.compile(pattern)
        except regex.error as exc:
            raise ValidationError(f"“{pattern}” is not a regular expression: {exc}.") from None


def validate_pii_types(value: object) -> None:
    if not isinstance(value, list) or not value or not set(value) <= set(PII_TYPES):
        raise ValidationError(f"Choose one or more of: {', '.join(PII_TYPES)}.")


class GuardrailQuerySet(models.QuerySet):
    def for_assistant(self, assistant: Assistant) -> GuardrailQuerySet:
        """The enabled guardrails that check this assistant's runs: its own and the mandatory ones."""
        return self.filter(Q(assistant=assistant) | Q(assistant__isnull=True, mandatory=True), enabled=True)


class Guardrail(models.Model):
    class Kind(models.TextChoices):
        BLOCKLIST = "blocklist", "Blocklist"
        MAX_LENGTH = "max_length", "Maximum length"
        PII = "pii", "Personal data (PII)"
        MODERATION = "moderation", "Provider moderation"
        LLM_JUDGE = "llm_judge", "LLM judge"

    class Stage(models.TextChoices):
        INPUT = "input", "Input (the user's message)"
        OUTPUT = "output", "Output (the answer)"
        BOTH = "both", "Input and output"
        TOOL = "tool", "Tool-call arguments (before the tool runs)"

    assistant = models.ForeignKey(
        Assistant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="guardrails",
        help_text="Empty: an administrator's guardrail, for every assistant when mandatory.",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.INPUT)
    enabled = models.BooleanField(default=True)
    mandatory = models.BooleanField(
        default=False, help_text="Checks the runs of every assistant. Only for a guardrail without an assistant."
    )
    words = models.JSONField(
        default=list, blank=True, validators=[validate_words], help_text="Blocklist: words or phrases, any case."
    )
    patterns = models.JSONField(
        default=list, blank=True, validators=[validate_patterns], help_text="Blocklist: regular expressions."
    )
    max_chars = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(10_000_000)],
        help_text="Maximum length: the most characters a text may have.",
    )  # fmt: skip
    pii_types = models.JSONField(
        default=list, blank=True, help_text=f"Personal data: which kinds to refuse ({', '.join(PII_TYPES)})."
    )
    phone_region = models.CharField(
        max_length=2, default="US", blank=True,
        help_text="Personal data: the country whose phone numbers count without a +country code.",
    )  # fmt: skip
    provider = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        limit_choices_to={"kind": Provider.Kind.OPENAI},
        help_text="Moderation: the OpenAI provider whose moderation endpoint checks the text. Empty: the "
        "assistant's own provider, when it is an OpenAI one.",
    )
    judge = models.ForeignKey(
        Assistant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="LLM judge: the assistant asked the question.",
    )
    question = models.CharField(
        max_length=1000, blank=True, help_text="LLM judge: a yes/no question about the text; yes trips the guardrail."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GuardrailQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def checks_input(self) -> bool:
        return self.stage in (self.Stage.INPUT, self.Stage.BOTH)

    @property
    def checks_output(self) -> bool:
        return self.stage in (self.Stage.OUTPUT, self.Stage.BOTH)

    @property
    def checks_tool_calls(self) -> bool:
        return self.stage == self.Stage.TOOL

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.mandatory and self.assistant_id is not None:
            errors["mandatory"] = "Only a guardrail without an assistant can be mandatory for every assistant."
        if self.kind == self.Kind.BLOCKLIST and not (self.words or self.patterns):
            errors["words"] = "Enter words or regular expressions to refuse."
        elif self.kind == self.Kind.MAX_LENGTH and not self.max_chars:
            errors["max_chars"] = "Enter the most characters a text may have."
        elif self.kind == self.Kind.PII:
            try:
                validate_pii_types(self.pii_types)
            except ValidationError as exc:
                errors["pii_types"] = exc.messages[0]
        elif self.kind == self.Kind.MODERATION:
            provider = self.provider if self.provider_id else None
            if provider is not None and provider.kind != Provider.Kind.OPENAI:
                errors["provider"] = "Choose an OpenAI provider: only OpenAI has a moderation endpoint."
            elif provider is None and (
                self.assistant_id is None or self.assistant.provider.kind != Provider.Kind.OPENAI
            ):
                errors["provider"] = "Choose an OpenAI provider: this assistant's provider has no moderation endpoint."
        elif self.kind == self.Kind.LLM_JUDGE:
            if not self.judge_id:
                errors["judge"] = "Choose the assistant that judges the text."
            elif self.judge_id == self.assistant_id:
                errors["judge"] = "An assistant cannot judge its own runs; choose another."
            if not self.question.strip():
                errors["question"] = "Enter the yes/no question the judge answers."
        if errors:
            raise ValidationError(errors)
