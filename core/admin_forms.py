"""Admin form pieces for write-only secrets."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin

from core.audit import audit_entry, audit_record
from core.models import AuditEntry


class SecretJSONField(forms.CharField):
    """A write-only JSON object of strings: empty keeps what is stored, `{}` clears it."""

    widget = forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> str:
        return ""  # never render a stored secret

    def to_python(self, value: Any) -> dict[str, str] | None:
        value = (value or "").strip()
        if not value:
            return None
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(parsed, dict) or not all(isinstance(k, str) for k in parsed):
            raise forms.ValidationError('Enter a JSON object, like {"NAME": "value"}.')
        return {k: str(v) for k, v in parsed.items()}


class SecretFormMixin:
    """Write-only secret fields: a stored value is never rendered, and empty input keeps it."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial_secret_values = {name: getattr(self.instance, name) for name in self.secret_fields}
        for name in self.secret_fields:
            stored = self.initial_secret_values[name]
            field = self.fields[name]
            if isinstance(stored, dict) and stored:
                field.help_text = f"Set: {', '.join(sorted(stored))}. Leave empty to keep; {{}} clears."
            elif stored:
                field.help_text = "A value is set. Leave empty to keep it."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.secret_fields:
            if cleaned.get(name) in (None, "") and self.instance.pk:
                cleaned[name] = self.initial_secret_values[name]
            elif cleaned.get(name) is None:
                cleaned[name] = {} if isinstance(self.initial_secret_values[name], dict) else ""
        return cleaned


def secret_summary(value: Any) -> str:
    """What a page may say about a stored secret: which keys are set, never a value."""
    if isinstance(value, dict):
        return f"Set: {', '.join(sorted(value))}." if value else "—"
    return "A value is set." if value else "—"


class SecretFieldsAdmin:
    """Secrets never render, whatever the permission.

    The write-only form fields cover the editable page only: for someone who may view but not change, the admin
    shows every field read-only through its model value, which for an encrypted field is the decrypted secret.
    There each secret field is swapped for a summary of what is set.
    """

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._secret_summaries = {name: self._summary_display(name) for name in self.secret_fields}

    def _summary_display(self, name: str) -> Any:
        label = self.model._meta.get_field(name).verbose_name

        @admin.display(description=label)
        def summary(obj: Any) -> str:
            return secret_summary(getattr(obj, name, None))

        summary.__name__ = f"{name}_summary"
        return summary

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        editable = self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        if editable:
            return fieldsets
        return [
            (title, {**options, "fields": [self._secret_summaries.get(f, f) for f in options["fields"]]})
            for title, options in fieldsets
        ]


class SuperuserOnlyAdmin:
    """Only superusers create, change or delete these (a stdio MCP server runs a command on the host);
    every change lands in the audit log, naming the fields that changed but never their values."""

    def save_model(self, request, obj, form, change) -> None:
        before = type(obj).objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        if before is None:
            audit_record(user=request.user, action=AuditEntry.Action.CREATED, target=obj)
            return
        fields = [
            f.name
            for f in obj._meta.concrete_fields
            if not getattr(f, "auto_now", False) and getattr(before, f.attname) != getattr(obj, f.attname)
        ]
        if fields:
            audit_record(user=request.user, action=AuditEntry.Action.CHANGED, target=obj, details={"fields": fields})

    def delete_model(self, request, obj) -> None:
        entry = audit_entry(user=request.user, action=AuditEntry.Action.DELETED, target=obj)
        super().delete_model(request, obj)
        entry.save()

    def delete_queryset(self, request, queryset) -> None:
        entries = [audit_entry(user=request.user, action=AuditEntry.Action.DELETED, target=obj) for obj in queryset]
        super().delete_queryset(request, queryset)
        AuditEntry.objects.bulk_create(entries)

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser
