"""Encryption of personal data at rest (ID numbers, mobiles) with Fernet (AES-128-CBC + HMAC).

A sealed value is stored as {"enc": "<token>"} inside JSON answers, so drafts in the database or in
Redis never hold these numbers in clear; a whole file kept for later (a register waiting for its
import) is sealed as one token. The key comes from DATA_KEY, or from a key file created on first
use (mode 0600) for single-machine setups.

DATA_KEY may name several keys, comma-separated, newest first (a rotation): new seals use the
newest, every one of them still unseals, and `python -m bot reseal` (bot.services.reseal) moves
everything at rest to the newest so that the older keys can be dropped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.settings import Settings


class SealedWithAnotherKey(ValueError):
    """A sealed value that none of the configured keys opens."""

    def __init__(self) -> None:
        super().__init__("personal data sealed with another key")


def is_sealed(stored: Any) -> bool:
    return isinstance(stored, dict) and len(stored) == 1 and isinstance(stored.get("enc"), str)


class Vault:
    def __init__(self, keys: bytes | str | Sequence[bytes | str]) -> None:
        listed = [keys] if isinstance(keys, bytes | str) else list(keys)
        if not listed:
            raise ValueError("no data key")
        self._newest = Fernet(listed[0])
        self._fernet = MultiFernet([Fernet(k) for k in listed])

    def seal(self, value: str) -> dict[str, str]:
        return {"enc": self._fernet.encrypt(value.encode()).decode()}

    def unseal(self, stored: Any) -> str:
        if isinstance(stored, dict) and "enc" in stored:
            return self._open(stored["enc"].encode()).decode()
        return "" if stored is None else str(stored)

    def seal_bytes(self, content: bytes) -> bytes:
        return self._fernet.encrypt(content)

    def unseal_bytes(self, token: bytes) -> bytes:
        return self._open(token)

    def _open(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise SealedWithAnotherKey() from exc

    def is_current(self, token: bytes) -> bool:
        """Whether the newest key alone opens this token (resealing would change nothing)."""
        try:
            self._newest.decrypt(token)
        except InvalidToken:
            return False
        return True

    def resealed(self, token: bytes) -> bytes:
        """The same content sealed with the newest key; SealedWithAnotherKey when no key opens it."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise SealedWithAnotherKey() from exc


def _key_from_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def data_keys(settings: Settings) -> tuple[bytes, ...]:
    """DATA_KEY's keys, newest first; without DATA_KEY, the key file's one key."""
    if settings.data_key is None:
        return (_key_from_file(Path(settings.data_key_file)),)
    keys = tuple(k.strip().encode() for k in settings.data_key.get_secret_value().split(",") if k.strip())
    if not keys:
        raise ValueError("DATA_KEY names no key")
    return keys


@cache
def _vault(keys: tuple[bytes, ...]) -> Vault:
    return Vault(keys)


def vault_for(settings: Settings) -> Vault:
    return _vault(data_keys(settings))
