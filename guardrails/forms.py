"""Forms for guardrails: lists are typed one item a line; validation lives on the model and in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser

from assistants.models import Assistant
from core.errors import ServiceError
from guardrails.models import PII_TYPES, Guardrail
from guardrails.services import providers_with_moderation

PII_LABELS = {"email": "Email addresses", "phone": "Phone numbers", "card": "Payment card numbers"}


class LinesField(forms.CharField):
    """A list of strings, one a line; blank lines are dropped."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> str:
        return "\n".join(value) if isinstance(value, list) else (value or "")

    def to_python(self, value: Any) -> list[str]:
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class GuardrailForm(forms.ModelForm):
    words = LinesField(required=False, help_text="Blocklist: words or phrases to refuse, one a line, any case.")
    patterns = LinesField(required=False, help_text="Blocklist: regular expressions to refuse, one a line.")
    pii_types = forms.MultipleChoiceField(
        required=False,
        label="Personal data",
        choices=[(kind, PII_LABELS[kind]) for kind in PII_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="Personal data: the kinds to refuse.",
    )

    class Meta:
        model = Guardrail
        fields = (
            "name", "kind", "stage", "words", "patterns", "max_chars", "pii_types", "phone_region", "provider",
            "judge", "question",
        )  # fmt: skip
        labels = {"max_chars": "Maximum characters", "judge": "Judge assistant", "provider": "Moderation provider"}

    def __init__(self, *args: Any, user: AbstractBaseUser, assistant: Assistant | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = providers_with_moderation(user=user)
        judges = Assistant.objects.usable_by(user).order_by("name")
        if assistant is not None:
            judges = judges.exclude(pk=assistant.pk)
        self.fields["judge"].queryset = judges

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values, ready for guardrail_create."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    def add_service_errors(self, error: ServiceError) -> None:
        if not error.fields:
            self.add_error(None, error.message)
            return
        for field, errors in error.fields.items():
            self.add_error(field if field in self.fields else None, errors)


class GuardrailAdminForm(GuardrailForm):
    """The admin's: every field, an assistant's or none (mandatory for every assistant, or a draft)."""

    class Meta(GuardrailForm.Meta):
        fields = ("assistant", "mandatory", "enabled", *GuardrailForm.Meta.fields)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("user", getattr(self, "acting_user", None))
        super().__init__(*args, **kwargs)
