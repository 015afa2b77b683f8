"""A file someone sent, as the rest of the bot knows it: a document, or a photo (its largest size)."""

from __future__ import annotations

from aiogram.types import Message

from bot.forms.engine import Upload


def upload_of(message: Message) -> Upload | None:
    if message.document is not None:
        d = message.document
        return Upload(d.file_id, d.file_unique_id, d.file_name or "file", d.file_size, d.mime_type or "")
    if message.photo:
        p = message.photo[-1]  # the largest size
        return Upload(p.file_id, p.file_unique_id, f"photo_{p.file_unique_id}.jpg", p.file_size, "image/jpeg")
    return None
