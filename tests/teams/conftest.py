from __future__ import annotations

# The local OpenAI-speaking server and a provider on it, as the guardrails tests have them.
from tests.guardrails.conftest import fake, vendor  # noqa: F401
