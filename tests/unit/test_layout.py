"""The layout of DESIGN.md holds: rules and forms know neither aiogram nor the ORM; storage knows no aiogram."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return {name.split(".")[0] for name in done.stdout.split()}


@pytest.mark.parametrize("module", ["bot.rules.identifiers", "bot.forms.declaration", "bot.documents.declaration_form"])
def test_pure_parts_import_neither_aiogram_nor_the_orm(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert not loaded & {"aiogram", "aiogram_dialog", "tortoise", "storage", "handlers"}


@pytest.mark.parametrize("module", ["storage.models", "storage.queries", "storage.submissions", "storage.outbox"])
def test_storage_does_not_import_aiogram(module: str) -> None:
    assert not _loaded_after_import(module) & {"aiogram", "aiogram_dialog", "handlers"}
