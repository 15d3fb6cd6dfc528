"""The full-text index over chunks, in the database's own kind: an FTS5 table kept by triggers on SQLite, a
generated tsvector column with a GIN index on PostgreSQL (files.search reads them)."""

from __future__ import annotations

from django.db import migrations

SQLITE = [
    "CREATE VIRTUAL TABLE files_chunk_fts USING fts5(text, content='files_chunk', content_rowid='id', "
    "tokenize='porter unicode61')",
    "CREATE TRIGGER files_chunk_fts_insert AFTER INSERT ON files_chunk BEGIN "
    "INSERT INTO files_chunk_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER files_chunk_fts_delete AFTER DELETE ON files_chunk BEGIN "
    "INSERT INTO files_chunk_fts(files_chunk_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER files_chunk_fts_update AFTER UPDATE ON files_chunk BEGIN "
    "INSERT INTO files_chunk_fts(files_chunk_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO files_chunk_fts(rowid, text) VALUES (new.id, new.text); END",
]
SQLITE_UNDO = [
    "DROP TRIGGER IF EXISTS files_chunk_fts_update",
    "DROP TRIGGER IF EXISTS files_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS files_chunk_fts_insert",
    "DROP TABLE IF EXISTS files_chunk_fts",
]
POSTGRESQL = [
    "ALTER TABLE files_chunk ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX files_chunk_search ON files_chunk USING GIN (search)",
]
POSTGRESQL_UNDO = ["DROP INDEX IF EXISTS files_chunk_search", "ALTER TABLE files_chunk DROP COLUMN IF EXISTS search"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor) -> None:
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("files", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            _run({"sqlite": SQLITE_UNDO, "postgresql": POSTGRESQL_UNDO}),
        )
    ]
