"""/stamped: the contact uploads the signed and stamped 申报表 (六(一)1).

```mermaid
stateDiagram-v2
    [*] --> waiting: /stamped (their declaration awaits the form)
    [*] --> [*]: /stamped with the file attached (caption), or nothing awaits it
    waiting --> waiting: text, sticker, a file of the wrong type or size (said why)
    waiting --> [*]: a PDF or an image (stored, receipt, staff told)
    waiting --> [*]: /cancel
```
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from bot.clock import Clock
from bot.commands import STAMPED_COMMAND
from bot.forms.engine import error_text
from bot.i18n import t
from bot.services import stamped_form as service
from bot.settings import Settings
from handlers.uploads import upload_of



class StampedFormSG(StatesGroup):
    waiting = State()


def problem_text(lang: str, found: service.Target) -> str:
    if found.problem == "none":
        return t(lang, "stamped_form.no_declaration")
    return t(lang, "stamped_form.not_awaited", reference=found.reference,
             status=t(lang, f"submission_status.{found.status}"))


async def ask(message: Message, lang: str, state: FSMContext, clock: Clock, settings: Settings) -> None:
    found = await service.target(message.from_user.id)
    if found.problem is not None:
        await state.clear()
        await message.answer(problem_text(lang, found))
        return
    if upload_of(message) is not None:  # the file came with the command as its caption
        await receive(message, lang, state, clock, settings)
        return
    await state.set_state(StampedFormSG.waiting)
    text = t(lang, "stamped_form.ask", reference=found.reference)
    if found.versions:
        text += "\n" + t(lang, "stamped_form.ask_again", versions=found.versions)
    await message.answer(text)


async def receive(message: Message, lang: str, state: FSMContext, clock: Clock, settings: Settings) -> None:
    file = upload_of(message)
    if file is None:
        await message.answer(t(lang, "stamped_form.file_expected"))
        return
    outcome = await service.upload(message.from_user.id, file, clock, settings)
    if outcome.error is not None:
        await state.set_state(StampedFormSG.waiting)
        await message.answer(error_text(lang, outcome.error) + "\n" + t(lang, "stamped_form.file_expected"))
        return
    await state.clear()
    if outcome.version is None:
        await message.answer(problem_text(lang, outcome.target))
        return
    key = "stamped_form.received" if outcome.version == 1 else "stamped_form.received_again"
    await message.answer(t(lang, key, reference=outcome.target.reference, version=outcome.version))


async def cancel_upload(state: FSMContext) -> bool:
    """Leave the upload if one is awaited (for /cancel); True if there was one."""
    if await state.get_state() != StampedFormSG.waiting.state:
        return False
    await state.clear()
    return True


def build_router() -> Router:
    router = Router(name="stamped_form")
    router.message.register(ask, Command(STAMPED_COMMAND))
    router.message.register(receive, StateFilter(StampedFormSG.waiting))
    return router
