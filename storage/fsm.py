"""aiogram FSM storage kept in the database, so a draft survives a restart (DESIGN: default storage).

This is the one module under storage/ that knows aiogram: it adapts aiogram's five-method storage
interface to the `ConversationState` table. Each call is one statement (an upsert or a select).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StorageKey

from storage.models import ConversationState


class DatabaseStorage(BaseStorage):
    def __init__(self, key_builder: KeyBuilder | None = None) -> None:
        # aiogram-dialog keeps one state stack per "destiny": the key must include it.
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        value = state.state if isinstance(state, State) else state
        await ConversationState.bulk_create(
            [ConversationState(key=self.key_builder.build(key), state=value, data={})],
            on_conflict=["key"],
            update_fields=["state", "updated_at"],
        )

    async def get_state(self, key: StorageKey) -> str | None:
        rows = await ConversationState.filter(key=self.key_builder.build(key)).values_list(
            "state", flat=True
        )
        return rows[0] if rows else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await ConversationState.bulk_create(
            [ConversationState(key=self.key_builder.build(key), state=None, data=dict(data))],
            on_conflict=["key"],
            update_fields=["data", "updated_at"],
        )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        rows = await ConversationState.filter(key=self.key_builder.build(key)).values_list(
            "data", flat=True
        )
        return dict(rows[0]) if rows and rows[0] else {}

    async def close(self) -> None:
        """Connections belong to the ORM, which the application closes itself."""
