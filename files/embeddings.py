"""Chunk embeddings from an OpenAI-compatible `/embeddings` endpoint (FILES_EMBEDDINGS_*), stored with each
chunk (files.fields says how) and ranked by files.search. Without a model configured, none of this runs and
file search is the full-text index alone."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

import openai
from django.conf import settings

BATCH = 64
TIMEOUT_SECONDS = 60


class EmbeddingFailed(Exception):
    """The endpoint did not answer with embeddings; the message says why."""


def embeddings_enabled() -> bool:
    return bool(settings.FILES_EMBEDDINGS_MODEL)


def embed(texts: Sequence[str]) -> list[bytes]:
    """The texts' embeddings, unit length, as float32 bytes (one request per BATCH texts)."""
    client = openai.OpenAI(
        base_url=settings.FILES_EMBEDDINGS_URL,
        api_key=settings.FILES_EMBEDDINGS_API_KEY or "none",
        timeout=TIMEOUT_SECONDS,
        max_retries=1,
    )
    vectors: list[bytes] = []
    for start in range(0, len(texts), BATCH):
        batch = list(texts[start : start + BATCH])
        try:
            response = client.embeddings.create(model=settings.FILES_EMBEDDINGS_MODEL, input=batch)
        except openai.OpenAIError as exc:
            raise EmbeddingFailed(str(exc)[:300] or type(exc).__name__) from None
        for item in sorted(response.data, key=lambda item: item.index):
            vectors.append(_unit(item.embedding).tobytes())
    return vectors


def _unit(values: Sequence[float]) -> array:
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return array("f", (value / norm for value in values))


def similarity(a: bytes, b: bytes) -> float:
    """Cosine similarity of two stored (unit) embeddings; 0 for embeddings of different sizes."""
    left, right = array("f"), array("f")
    left.frombytes(a)
    right.frombytes(b)
    if len(left) != len(right):
        return 0.0
    return sum(x * y for x, y in zip(left, right, strict=True))
