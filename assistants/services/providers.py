"""Checking a provider with one small real request."""

from __future__ import annotations

import time
from dataclasses import dataclass

from agents import (
    ModelSettings,
    ModelTracing,
)

from assistants.errors import provider_error_describe
from assistants.factory import model_build
from assistants.models import Provider
from core.network import url_refusal_async


@dataclass
class ProviderCheck:
    ok: bool
    latency_ms: int
    message: str


async def provider_check(*, provider: Provider, model_name: str = "") -> ProviderCheck:
    """Make one small real request to the provider and report how it went."""
    model_name = model_name or provider.default_model
    if not model_name:
        return ProviderCheck(False, 0, "Set a default model first.")
    if provider.base_url and (refusal := await url_refusal_async(provider.base_url)):
        return ProviderCheck(False, 0, refusal)
    # One attempt only: the admin wants the real answer, not a retried one.
    probe = Provider(**{f.attname: getattr(provider, f.attname) for f in Provider._meta.concrete_fields})
    probe.max_retries = 0
    model = model_build(provider=probe, model_name=model_name)
    started = time.monotonic()
    try:
        await model.get_response(
            None,
            "Reply with the word pong.",
            ModelSettings(max_tokens=16),
            [],
            None,
            [],
            ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        )
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is raised
        latency = int((time.monotonic() - started) * 1000)
        described = provider_error_describe(exc, model=model_name, timeout=provider.timeout)
        message = described[1] if described else f"The request failed ({type(exc).__name__})."
        return ProviderCheck(False, latency, message)
    return ProviderCheck(True, int((time.monotonic() - started) * 1000), f"{model_name} answered.")
