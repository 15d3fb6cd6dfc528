"""Public identifiers in the OpenAI style (`asst_…`, `thread_…`), sortable by creation time."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_lock = threading.Lock()
_last = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return `prefix_` followed by 26 characters that sort in creation order within a process."""
    global _last
    with _lock:
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        # Within one millisecond, keep ids increasing so ordering by id is creation order.
        if value <= _last:
            value = _last + 1
        _last = value
    return f"{prefix}_{_encode(value, 26)}"


# Module-level defaults, so migrations can refer to them by name.
def new_assistant_id() -> str:
    return new_id("asst")


def new_thread_id() -> str:
    return new_id("thread")


def new_message_id() -> str:
    return new_id("msg")


def new_run_id() -> str:
    return new_id("run")


def new_step_id() -> str:
    return new_id("step")
