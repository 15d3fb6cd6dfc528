"""The column chunk embeddings are kept in: float32 bytes in Python, whatever the database keeps them as.

On SQLite, and on PostgreSQL without pgvector, it is a blob (bytea) of float32 values. On PostgreSQL with pgvector
it is a `vector` (migration 0004 makes it one where the extension can be created). Neither has a fixed dimension,
so a model of any size fits. files.search ranks them in the database where it can."""

from __future__ import annotations

from array import array
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

_vector_columns: dict[tuple[str, str], bool] = {}


def vector_column(connection: BaseDatabaseWrapper) -> bool:
    """Whether `files_chunk.embedding` is a pgvector `vector` in this database (read once per database)."""
    if connection.vendor != "postgresql":
        return False
    key = (connection.alias, connection.settings_dict["NAME"])
    if key not in _vector_columns:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = to_regclass('files_chunk') AND attname = 'embedding' AND NOT attisdropped"
            )
            row = cursor.fetchone()
        _vector_columns[key] = row is not None and row[0] == "vector"
    return _vector_columns[key]


def vector_columns_forget() -> None:
    """Read the column's type again next time (a migration changed it)."""
    _vector_columns.clear()


def vector_text(value: bytes) -> str:
    """pgvector's text form of float32 bytes: `[0.1,0.2,…]`."""
    values = array("f")
    values.frombytes(value)
    return "[" + ",".join(map(str, values)) + "]"


def vector_bytes(text: str) -> bytes:
    """Float32 bytes from pgvector's text form."""
    inner = text.strip()[1:-1]
    return array("f", map(float, inner.split(",")) if inner else ()).tobytes()


class EmbeddingField(models.BinaryField):
    """Float32 bytes in Python; a blob in the database, or a pgvector `vector` where the column is one."""

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if value is not None and vector_column(connection):
            return vector_text(bytes(value))
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        return vector_bytes(value) if isinstance(value, str) else value
