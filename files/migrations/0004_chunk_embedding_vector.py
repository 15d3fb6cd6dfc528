"""On PostgreSQL with pgvector, chunk embeddings become a `vector` column (no fixed dimension), so the nearest ones
are found by its `<=>` operator in the database (files.search). Where the extension is not installed, or cannot be
created by this database user, the column stays bytea and embeddings are compared in Python: migrate again after
installing pgvector (`migrate files 0003`, then `migrate`) to move them. SQLite keeps float32 blobs, which
sqlite-vec reads as they are."""

from __future__ import annotations

import logging

from django.db import DatabaseError, migrations, transaction

import files.fields

logger = logging.getLogger(__name__)
BATCH = 500


def _copy(schema_editor, source: str, target: str, convert) -> None:
    """Copy each embedding from column `source` to column `target`, converted, a batch at a time."""
    last = 0
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(
                f"SELECT id, {source} FROM files_chunk WHERE {source} IS NOT NULL AND id > %s ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.executemany(
                f"UPDATE files_chunk SET {target} = %s WHERE id = %s", [(convert(value), pk) for pk, value in rows]
            )
            last = rows[-1][0]


def _replace(schema_editor, column_type: str, convert) -> None:
    """Turn files_chunk.embedding into a column of `column_type`, keeping its values."""
    schema_editor.execute(f"ALTER TABLE files_chunk ADD COLUMN embedding_new {column_type}")
    _copy(schema_editor, "embedding", "embedding_new", convert)
    schema_editor.execute("ALTER TABLE files_chunk DROP COLUMN embedding")
    schema_editor.execute("ALTER TABLE files_chunk RENAME COLUMN embedding_new TO embedding")
    files.fields.vector_columns_forget()


def _pgvector_created(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        if cursor.fetchone() is None:
            return False
        try:
            with transaction.atomic(using=schema_editor.connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except DatabaseError as exc:  # creating it takes a superuser (or the extension's owner)
            logger.warning("pgvector is installed but CREATE EXTENSION vector failed: %s", exc)
            return False
    return True


def to_vector(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql" or files.fields.vector_column(schema_editor.connection):
        return
    if _pgvector_created(schema_editor):
        _replace(schema_editor, "vector", lambda value: files.fields.vector_text(bytes(value)))


def to_bytea(apps, schema_editor) -> None:
    if files.fields.vector_column(schema_editor.connection):
        _replace(schema_editor, "bytea", lambda value: files.fields.vector_bytes(str(value)))


class Migration(migrations.Migration):
    dependencies = [("files", "0003_chunk_embedding")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="chunk",
                    name="embedding",
                    field=files.fields.EmbeddingField(blank=True, null=True),
                ),
            ],
            database_operations=[migrations.RunPython(to_vector, to_bytea)],
        )
    ]
