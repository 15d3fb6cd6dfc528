"""Per-user rate limits counted in the cache, so every process shares one count (Redis in production)."""

from __future__ import annotations

import time

from django.core.cache import cache

from core.metrics import rate_limit_refusal_record


class RateLimited(Exception):
    """Too many requests; `retry_after` is whole seconds until the window resets."""

    def __init__(self, *, what: str, limit: int, retry_after: int) -> None:
        super().__init__(what, limit, retry_after)
        self.what = what
        self.limit = limit
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"Too many {self.what}: at most {self.limit} a minute. Try again in {self.retry_after} s."


def rate_limit_hit(*, scope: str, user_id: int, limit: int, what: str, window: int = 60, hits: int = 1) -> None:
    """Count `hits` in the current fixed window; raise RateLimited once past `limit` (0 turns it off)."""
    if limit <= 0:
        return
    now = time.time()
    bucket = int(now // window)
    key = f"ratelimit:{scope}:{user_id}:{bucket}"
    # add() is atomic: the first hit of a window creates the key, every other one increments it.
    if cache.add(key, hits, timeout=window + 1):
        count = hits
    else:
        try:
            count = cache.incr(key, hits)
        except ValueError:  # the key expired between add() and incr()
            cache.add(key, hits, timeout=window + 1)
            count = hits
    if count > limit:
        rate_limit_refusal_record(scope=scope)
        raise RateLimited(what=what, limit=limit, retry_after=max(1, int((bucket + 1) * window - now) + 1))
