"""The models match the migrations, and the migrated databases match the models.

Two checks, because `tortoise makemigrations` compares the models with the state the migration
files describe and never looks at a database:

1. makemigrations, run on a temporary copy of the project, writes nothing (and does write a
   migration when a model changes: the check can fail).
2. A fresh database migrated by the checked-in files, SQLite and PostgreSQL, has exactly the
   tables, columns (nullability, PostgreSQL types and defaults), foreign keys, unique constraints,
   indexes and CHECK constraints the models declare. tortoise's SQLite migrations rebuild tables
   on some changes and a rebuild silently drops composite unique constraints and indexes
   (DESIGN, known traps): this is where such a loss shows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

from conftest import both_databases

ROOT = Path(__file__).resolve().parents[2]
TORTOISE_CLI = Path(sys.executable).parent / "tortoise"
MIGRATION_TABLE = "tortoise_migrations"
# 0001 created bot_user.id as a generated key; 0002 corrected the state and, on PostgreSQL, dropped
# the sequence. On SQLite the column stays INTEGER PRIMARY KEY (a rowid holding the given id).
SQLITE_TYPE_EXCEPTIONS = {("bot_user", "id"): "INTEGER"}


# -- 1. makemigrations on a copy writes nothing ---------------------------------------------------


def _project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(ROOT / "storage", copy / "storage", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _makemigrations(copy: Path, database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(copy)}
    done = subprocess.run(
        [str(TORTOISE_CLI), "makemigrations"], cwd=copy, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _migration_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.py"))


def test_makemigrations_on_the_unchanged_models_writes_nothing(tmp_path: Path) -> None:
    in_repo = _migration_files(ROOT / "storage" / "migrations")
    copy = _project_copy(tmp_path)
    for url in (f"sqlite://{tmp_path}/unused.sqlite3", "postgres://postgres@127.0.0.1:5432/unused"):
        output = _makemigrations(copy, url)
        assert "No changes detected" in output, output
        assert _migration_files(copy / "storage" / "migrations") == in_repo
    assert _migration_files(ROOT / "storage" / "migrations") == in_repo

    # the check can fail: a changed model gets its migration (in the copy, never in the repository)
    models = copy / "storage" / "models.py"
    source = models.read_text(encoding="utf-8")
    marker = '    note = fields.CharField(max_length=100, default="")\n'
    assert marker in source
    models.write_text(source.replace(marker, marker + "    source = fields.CharField(max_length=32, null=True)\n"))
    output = _makemigrations(copy, f"sqlite://{tmp_path}/unused.sqlite3")
    written = set(_migration_files(copy / "storage" / "migrations")) - set(in_repo)
    assert len(written) == 1, output
    assert "source" in (copy / "storage" / "migrations" / written.pop()).read_text(encoding="utf-8")
    assert _migration_files(ROOT / "storage" / "migrations") == in_repo


# -- 2. the migrated database is what the models declare ------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: dict[str, tuple]  # column -> (nullable, type, has_default); type/default None where not compared
    foreign_keys: dict[str, tuple[str, str]]  # column -> (referenced table, ON DELETE)
    unique: set[tuple[str, ...]]
    indexes: set[tuple[str, ...]]  # not unique
    checks: set[str]


def _column_of(meta, name: str) -> str:
    if name in meta.fk_fields or name in meta.o2o_fields:
        return meta.fields_map[name].source_field
    return meta.fields_db_projection.get(name, name)


def _pg_type(sql_type: str) -> str:
    sql_type = sql_type.upper()
    if sql_type.startswith("VARCHAR"):
        return "character varying" + sql_type[len("VARCHAR"):].lower()
    if sql_type.startswith("DECIMAL"):
        return "numeric" + sql_type[len("DECIMAL"):].replace(" ", "").lower()
    return {
        "INT": "integer", "SERIAL": "integer", "BIGINT": "bigint", "BIGSERIAL": "bigint", "SMALLINT": "smallint",
        "TEXT": "text", "TIMESTAMPTZ": "timestamp with time zone", "DATE": "date", "BOOL": "boolean", "JSONB": "jsonb",
    }[sql_type]


def _declared(dialect: str) -> dict[str, Table]:
    tables = {}
    for model in Tortoise.apps["models"].values():
        meta = model._meta
        columns, foreign_keys, unique, indexes = {}, {}, set(), set()
        for name, column in meta.fields_db_projection.items():
            field = meta.fields_map[name]
            generated_pk = field.pk and field.generated
            if dialect == "postgres":
                sql_type = field.get_for_dialect("postgres", "SQL_TYPE")
                kind = _pg_type("BIGINT" if generated_pk and sql_type == "BIGINT" else sql_type)
                columns[column] = (field.null, kind, generated_pk or field.has_db_default())
            else:
                if generated_pk:
                    kind = "INTEGER"
                else:
                    kind = SQLITE_TYPE_EXCEPTIONS.get((meta.db_table, column)) or field.get_for_dialect("sqlite", "SQL_TYPE")
                columns[column] = (field.null, kind, None)
            if field.unique and not field.pk:
                unique.add((column,))
            elif field.index and not field.pk:
                indexes.add((column,))
        for name in (*meta.fk_fields, *meta.o2o_fields):
            relation = meta.fields_map[name]
            foreign_keys[relation.source_field] = (relation.related_model._meta.db_table, str(relation.on_delete))
            if name in meta.o2o_fields:
                unique.add((relation.source_field,))
        for group in meta.unique_together:
            unique.add(tuple(_column_of(meta, name) for name in group))
        for index in meta.indexes:
            names = index.field_names if isinstance(index, Index) else index
            indexes.add(tuple(_column_of(meta, name) for name in names))
        checks = {c.name for c in meta.constraints if isinstance(c, CheckConstraint)}
        tables[meta.db_table] = Table(columns, foreign_keys, unique, indexes, checks)
    return tables


async def _sqlite_schema(connection) -> dict[str, Table]:
    names = await connection.execute_query_dict(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    tables = {}
    for entry in names:
        table = entry["name"]
        info = await connection.execute_query_dict(f'PRAGMA table_info("{table}")')
        columns = {c["name"]: (not c["notnull"] and not c["pk"], c["type"], None) for c in info}
        fk_rows = await connection.execute_query_dict(f'PRAGMA foreign_key_list("{table}")')
        foreign_keys = {fk["from"]: (fk["table"], fk["on_delete"]) for fk in fk_rows}
        unique, indexes = set(), set()
        for index in await connection.execute_query_dict(f'PRAGMA index_list("{table}")'):
            if index["origin"] == "pk":
                continue
            cols = await connection.execute_query_dict(f'PRAGMA index_info("{index["name"]}")')
            key = tuple(c["name"] for c in sorted(cols, key=lambda c: c["seqno"]))
            (unique if index["unique"] else indexes).add(key)
        checks = set(re.findall(r'CONSTRAINT "(\w+)" CHECK', entry["sql"] or ""))
        tables[table] = Table(columns, foreign_keys, unique, indexes, checks)
    return tables


_PG_ON_DELETE = {"c": "CASCADE", "r": "RESTRICT", "n": "SET NULL", "a": "NO ACTION", "d": "SET DEFAULT"}


async def _postgres_schema(connection) -> dict[str, Table]:
    names = await connection.execute_query_dict(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    tables = {}
    for entry in names:
        table = entry["table_name"]
        info = await connection.execute_query_dict(
            "SELECT column_name, is_nullable, data_type, character_maximum_length, numeric_precision, numeric_scale,"
            " column_default FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
            [table],
        )
        columns = {}
        for c in info:
            kind = c["data_type"]
            if kind == "character varying":
                kind += f"({c['character_maximum_length']})"
            elif kind == "numeric":
                kind += f"({c['numeric_precision']},{c['numeric_scale']})"
            columns[c["column_name"]] = (c["is_nullable"] == "YES", kind, c["column_default"] is not None)
        constraints = await connection.execute_query_dict(
            "SELECT con.contype::text AS contype, con.conname, con.confdeltype::text AS confdeltype, ref.relname AS ref_table,"
            " (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)"
            "  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns"
            " FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid"
            " LEFT JOIN pg_class ref ON ref.oid = con.confrelid WHERE t.relname = $1",
            [table],
        )
        foreign_keys = {
            c["columns"][0]: (c["ref_table"], _PG_ON_DELETE[c["confdeltype"]]) for c in constraints if c["contype"] == "f"
        }
        checks = {c["conname"] for c in constraints if c["contype"] == "c"}
        index_rows = await connection.execute_query_dict(
            "SELECT ix.indisunique AS is_unique, ix.indisprimary AS is_primary,"
            " (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)"
            "  JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum) AS columns"
            " FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid WHERE t.relname = $1",
            [table],
        )
        unique, indexes = set(), set()
        for index in index_rows:
            if not index["is_primary"]:
                (unique if index["is_unique"] else indexes).add(tuple(index["columns"]))
        tables[table] = Table(columns, foreign_keys, unique, indexes, checks)
    return tables


@both_databases
async def test_the_migrated_database_is_what_the_models_declare(db: str) -> None:
    connection = Tortoise.get_connection(db.split(":", 1)[0])
    dialect = "postgres" if db.startswith("postgres") else "sqlite"
    actual = await (_postgres_schema(connection) if dialect == "postgres" else _sqlite_schema(connection))
    actual.pop(MIGRATION_TABLE)
    declared = _declared(dialect)
    assert sorted(actual) == sorted(declared)
    for name, table in declared.items():
        found = actual[name]
        assert found.columns == table.columns, name
        assert found.foreign_keys == table.foreign_keys, name
        assert found.unique == table.unique, name
        assert found.indexes == table.indexes, name
        assert found.checks == table.checks, name
    # the comparison is not empty-handed: constraints that once went missing are there
    assert ("user_id", "station_id") in actual["contact"].unique
    assert ("recipient_id", "kind", "subject", "period") in actual["notice"].unique
    assert {("year", "level", "slot"), ("submission_id",)} <= actual["key_project_grade"].unique
    assert actual["key_project_grade"].checks == {"key_project_grade_level", "key_project_grade_slot"}
    assert ("status", "submitted_at") in actual["submission"].indexes
    assert actual["contact"].foreign_keys["station_id"] == ("station", "CASCADE")
    if dialect == "postgres":
        assert actual["bot_user"].columns["id"] == (False, "bigint", False)  # no sequence behind it


@both_databases
async def test_sqlite_enforces_foreign_keys_under_tortoise(db: str) -> None:
    from tortoise.exceptions import IntegrityError

    from storage.models import Contact

    with pytest.raises(IntegrityError):
        await Contact.create(user_id=1, station_id=12345)
