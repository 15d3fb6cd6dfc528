from __future__ import annotations

import pytest

from tests.api.conftest import alice_api, alice_async, bob_api  # noqa: F401 - the API clients, shared


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Users are made for nearly every test here; the real hasher's slowness is not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
