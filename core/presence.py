"""Whether a small configuration table holds any row, known without a query on every run.

Quotas, prices, guardrails and team links are read at the start of every run, and on most sites most of these
tables are empty. `rows_exist` answers from this process's memory: a save or delete of the model here forgets
the answer at once, and a change made by another process is seen within `PRESENCE_SECONDS`. Callers skip their
query when the table is empty and read it as before otherwise, so a row is never missed for longer than that.
"""

from __future__ import annotations

import time

from django.db import models
from django.db.models.signals import post_delete, post_save

PRESENCE_SECONDS = 5.0

_known: dict[type[models.Model], tuple[bool, float]] = {}


def rows_exist(model: type[models.Model]) -> bool:
    """Whether `model`'s table has a row (as of at most `PRESENCE_SECONDS` ago, or of this process's last
    change to it)."""
    now = time.monotonic()
    known = _known.get(model)
    if known is not None and now - known[1] < PRESENCE_SECONDS:
        return known[0]
    exists = model._default_manager.exists()
    _known[model] = (exists, now)
    return exists


def _forget(sender: type[models.Model], **kwargs: object) -> None:
    _known.pop(sender, None)


def rows_watch(*watched: type[models.Model]) -> None:
    """Forget what is known of these models whenever one of their rows is saved or deleted in this process (an
    app's `ready` calls it for the tables it asks about)."""
    for model in watched:
        uid = f"presence:{model._meta.label}"
        post_save.connect(_forget, sender=model, weak=False, dispatch_uid=uid)
        post_delete.connect(_forget, sender=model, weak=False, dispatch_uid=uid)


def rows_forget_all() -> None:
    """Forget everything known (tests empty the tables without saving or deleting rows one by one)."""
    _known.clear()
