"""/digest: today's staff digest, now (bot.services.digest), as the daily notice would bring it."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.clock import Clock
from bot.services import digest as service
from bot.settings import Settings

COMMAND = "digest"
MESSAGE_LIMIT = 3500


def chunks(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Whole lines per message, each under Telegram's limit."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        if current and len(current) + len(line) + 1 > limit:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    return [*parts, current] if current else parts


async def on_command(message: Message, lang: str, settings: Settings, clock: Clock) -> None:
    built = await service.build_digest(settings, clock.now())
    for part in chunks(service.render_text(built, lang)):
        await message.answer(part)


def build_router() -> Router:
    router = Router(name="staff-digest")
    router.message.register(on_command, Command(COMMAND))
    return router
