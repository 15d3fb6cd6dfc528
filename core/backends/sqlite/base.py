"""Django's SQLite backend on sqlean.py, a build of Python's own sqlite3 module that can load extensions (this
Python's sqlite3 cannot), with sqlite-vec loaded into every connection: file search ranks embeddings with its
vec_distance_cosine() in the database (files.vectors).

Why sqlean.py takes sqlite3's place in sys.modules rather than being handed to a subclass: Django's backend binds
its driver when it is imported. It registers its adapters and converters on that module, subclasses its Cursor,
and reads its version to decide its features; a subclass would have to copy that code and keep up with it.
Swapped in before that import, Django's code runs unchanged on sqlean.py. It is also the one SQLite library of
the process: two libraries on one database file in one process can corrupt it (their POSIX locks do not see each
other). This module is the backend's first import, so the swap happens before Django's backend is loaded; if
something loaded that earlier, the stdlib driver is already bound and this fails loudly.

A driver that cannot be imported fails loudly too (the backend does not load). sqlite-vec that cannot be loaded
(no build for this platform) only logs a warning: file search then compares embeddings in Python, slower but
the same results, and nothing else in the product depends on it.
"""

from __future__ import annotations

import logging
import sys

import sqlean
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils.functional import cached_property

_loaded = sys.modules.get("django.db.backends.sqlite3.base")
if _loaded is not None and _loaded.Database is not sqlean.dbapi2:
    raise ImproperlyConfigured(
        "django.db.backends.sqlite3 was imported before core.backends.sqlite, so it is bound to Python's own "
        "sqlite3, which cannot load sqlite-vec. Use ENGINE core.backends.sqlite for every SQLite database."
    )
sys.modules["sqlite3"] = sqlean
sys.modules["sqlite3.dbapi2"] = sqlean.dbapi2

from django.db.backends.sqlite3 import base, features  # noqa: E402 - after the swap, on purpose

logger = logging.getLogger(__name__)

try:
    import sqlite_vec
except ImportError as exc:  # pragma: no cover - sqlite-vec is in requirements.txt
    sqlite_vec = None
    logger.warning("sqlite-vec is not installed (%s): embeddings are compared in Python.", exc)

_warned = False


def vec_load(connection: sqlean.dbapi2.Connection) -> None:
    """Load sqlite-vec into a new connection; on failure, warn once and go on without it."""
    global _warned
    if sqlite_vec is None:
        return
    try:
        connection.enable_load_extension(True)
        try:
            sqlite_vec.load(connection)
        finally:
            connection.enable_load_extension(False)
    except sqlean.dbapi2.OperationalError as exc:
        if not _warned:
            _warned = True
            logger.warning("sqlite-vec did not load (%s): embeddings are compared in Python.", exc)


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def vec_version(self) -> str | None:
        """sqlite-vec's version on this connection, or None if it is not loaded."""
        with self.connection.cursor() as cursor:
            try:
                cursor.execute("SELECT vec_version()")
            except DatabaseError:  # no such function
                return None
            return cursor.fetchone()[0]


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures

    def get_new_connection(self, conn_params: dict) -> sqlean.dbapi2.Connection:
        connection = super().get_new_connection(conn_params)
        vec_load(connection)
        return connection
