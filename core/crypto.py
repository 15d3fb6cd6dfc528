"""Encryption at rest for secrets (API keys, MCP env and headers)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

_PREFIX = "enc1:"


def _fernet_key(raw: str) -> bytes:
    try:
        Fernet(raw.encode())
        return raw.encode()
    except ValueError:
        return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


@lru_cache(maxsize=4)
def _fernet(key_setting: str, secret_key: str) -> MultiFernet:
    keys = [k.strip() for k in key_setting.split(",") if k.strip()]
    if not keys:
        # Derived from SECRET_KEY with a purpose label, so the two are not interchangeable.
        keys = ["switchboard.field-encryption:" + secret_key]
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt(plain: str) -> str:
    return _PREFIX + fernet().encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(_PREFIX):
        return stored
    try:
        return fernet().decrypt(stored[len(_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted: FIELD_ENCRYPTION_KEY or SECRET_KEY changed."
        ) from exc


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees plain text."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else decrypt(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted; Python code sees a dict."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict:
        if not value:
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> dict:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(value)

    def get_prep_value(self, value: Any) -> str:
        if not value:
            return ""
        return encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: Any) -> str:
        return ""  # never serialize secrets (dumpdata, admin history)
