"""How many sockets each user holds open on this process, so one user cannot take them all."""

from __future__ import annotations

from collections import Counter

_open: dict[str, Counter[int]] = {}


def socket_open(*, kind: str, user_id: int, limit: int) -> bool:
    """Count a socket the user opens; False (and nothing counted) when they already hold `limit` (0: no limit)."""
    held = _open.setdefault(kind, Counter())
    if limit and held[user_id] >= limit:
        return False
    held[user_id] += 1
    return True


def socket_close(*, kind: str, user_id: int) -> None:
    held = _open.setdefault(kind, Counter())
    held[user_id] -= 1
    if held[user_id] <= 0:
        del held[user_id]
