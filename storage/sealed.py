"""The JSON columns that may hold sealed personal data ({"enc": token}; see bot.crypto), read in
batches and rewritten one row at a time: what `python -m bot reseal` walks. Every JSONField of every
model is included, so a column added later is covered without a change here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from tortoise import Tortoise, fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

BATCH = 500


def json_columns() -> list[tuple[type[Model], str]]:
    out: list[tuple[type[Model], str]] = []
    for app in Tortoise.apps.values():
        for model in app.values():
            for name, f in model._meta.fields_map.items():
                if isinstance(f, fields.JSONField):
                    out.append((model, name))
    return sorted(out, key=lambda c: (c[0]._meta.db_table, c[1]))


def place(model: type[Model], column: str) -> str:
    return f"{model._meta.db_table}.{column}"


async def values(model: type[Model], column: str) -> AsyncIterator[tuple[Any, Any]]:
    """(primary key, value) of every row whose value is set, in primary-key order, BATCH at a time."""
    pk = model._meta.pk_attr
    last: Any = None
    while True:
        query = model.filter(**{f"{column}__isnull": False})
        if last is not None:
            query = query.filter(**{f"{pk}__gt": last})
        rows = await query.order_by(pk).limit(BATCH).values_list(pk, column)
        for key, value in rows:
            yield key, value
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


async def rewrite(model: type[Model], column: str, key: Any, change: Callable[[Any], Any]) -> bool:
    """Read the row again, locked (PostgreSQL) for the transaction, and store `change(value)` when it
    differs; whether it was written."""
    pk = model._meta.pk_attr
    async with in_transaction(model._meta.default_connection):
        rows = await model.filter(**{pk: key}).select_for_update().values_list(column, flat=True)
        if not rows:
            return False
        new = change(rows[0])
        if new == rows[0]:
            return False
        await model.filter(**{pk: key}).update(**{column: new})
    return True
