"""Cloning the template schema into a new tenant's schema.

django-tenants' bundled clone function (pg-clone-schema) writes extension-typed columns without
their type modifier (`vector(384)` becomes `vector`), and an HNSW index then fails with "column
does not have dimensions". PostgreSQL's own `CREATE TABLE ... (LIKE ... INCLUDING ALL)` copies
columns with their exact types, defaults, identity, generated columns, checks, comments and
storage; this module adds what LIKE leaves out or renames: indexes and index-backed constraints
under their own names, foreign keys, triggers, and the rows (the migration history and any seed
data), then moves identity sequences past the copied ids.

Everything runs in the caller's transaction, so a failed clone leaves no half-made schema.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from psycopg import sql


def clone_schema(source: str, target: str) -> None:
    cursor: Any
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(target)))
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            [source],
        )
        tables = [row[0] for row in cursor.fetchall()]
        # Indexes are made below under their own names: LIKE would rename them (x -> x_idx), and
        # migrations drop indexes by name.
        for table in tables:
            cursor.execute(
                sql.SQL("CREATE TABLE {}.{} (LIKE {}.{} INCLUDING ALL EXCLUDING INDEXES)").format(
                    sql.Identifier(target),
                    sql.Identifier(table),
                    sql.Identifier(source),
                    sql.Identifier(table),
                )
            )
        for table in tables:
            _copy_rows(cursor, source, target, table)
        # With only the source schema on the path, definitions name its tables unqualified (and
        # anything elsewhere, like public, qualified); replayed with the target first on the path,
        # they point at the target's tables. pg_get_triggerdef qualifies the table unless asked for
        # its "pretty" form, and pg_get_indexdef always does: its prefix is rewritten.
        cursor.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(source)))
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = %s AND c.contype IN ('p', 'u', 'x', 'f')"
            " ORDER BY c.contype = 'f', c.conname",
            [source],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid), quote_ident(%s) FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            " ORDER BY c.relname",
            [source, source],
        )
        indexes = [
            _retarget_index(definition, quoted_source, target)
            for definition, quoted_source in cursor.fetchall()
        ]
        cursor.execute(
            "SELECT pg_get_triggerdef(t.oid, true) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal"
            " ORDER BY t.tgname",
            [source],
        )
        triggers = [row[0] for row in cursor.fetchall()]
        cursor.execute(sql.SQL("SET LOCAL search_path = {}, public").format(sql.Identifier(target)))
        for table, name, definition in constraints:
            cursor.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
                + sql.SQL(definition)  # the server's own rendering of a constraint it holds
            )
        for definition in [*indexes, *triggers]:
            cursor.execute(sql.SQL(definition))
    # django-tenants sets search_path before each query; make sure its next one sets it again.
    connection.search_path_set_schemas = None  # type: ignore[attr-defined]


_INDEX_PREFIX = re.compile(r"^(CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?)(\S+?)\.")


def _retarget_index(definition: str, quoted_source: str, target: str) -> str:
    """`CREATE INDEX x ON source.t USING ...` -> the same on the target's table."""
    match = _INDEX_PREFIX.match(definition)
    if match is None or match.group(2) != quoted_source:
        raise ValueError(f"unexpected index definition: {definition[:120]}")
    quoted_target = sql.Identifier(target).as_string(connection.connection)
    return f"{match.group(1)}{quoted_target}.{definition[match.end() :]}"


def _copy_rows(cursor: Any, source: str, target: str, table: str) -> None:
    """Copy a table's rows (the migration history, seed data), then move identity sequences on."""
    cursor.execute(
        "SELECT a.attname, a.attidentity <> '' FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s"
        " AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        [source, table],
    )
    columns = cursor.fetchall()
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    cursor.execute(
        sql.SQL("INSERT INTO {}.{} ({}) SELECT {} FROM {}.{}").format(
            sql.Identifier(target),
            sql.Identifier(table),
            names,
            names,
            sql.Identifier(source),
            sql.Identifier(table),
        )
    )
    for name, is_identity in columns:
        if is_identity:
            cursor.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, {}), coalesce(max({}), 0) + 1, false)"
                    " FROM {}.{}"
                ).format(
                    sql.Literal(f'"{target}"."{table}"'),
                    sql.Literal(name),
                    sql.Identifier(name),
                    sql.Identifier(target),
                    sql.Identifier(table),
                )
            )
