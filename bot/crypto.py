"""Encryption of personal data at rest (ID numbers, mobiles) with Fernet (AES-128-CBC + HMAC).

A sealed value is stored as {"enc": "<token>"} inside JSON answers, so drafts in the database or in
Redis never hold these numbers in clear. The key comes from DATA_KEY, or from a key file created on
first use (mode 0600) for single-machine setups.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from bot.settings import Settings


class Vault:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: str) -> dict[str, str]:
        return {"enc": self._fernet.encrypt(value.encode()).decode()}

    def unseal(self, stored: Any) -> str:
        if isinstance(stored, dict) and "enc" in stored:
            try:
                return self._fernet.decrypt(stored["enc"].encode()).decode()
            except InvalidToken as exc:
                raise ValueError("personal data sealed with another key") from exc
        return "" if stored is None else str(stored)


def _key_from_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


@cache
def _vault(key: bytes) -> Vault:
    return Vault(key)


def vault_for(settings: Settings) -> Vault:
    key = settings.data_key.get_secret_value().encode() if settings.data_key else _key_from_file(Path(settings.data_key_file))
    return _vault(key)
