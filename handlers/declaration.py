"""/declare: the establishment declaration, an aiogram-dialog over the form engine.

The dialog has one window that shows whatever screen the engine describes (question, mentor list,
document checklist, summary) and one window to confirm discarding. The answers live in the
submission row, saved after every step; the dialog's own data holds only the submission id and the
rendered screen, so a restart resumes exactly where the person was.

```mermaid
stateDiagram-v2
    [*] --> question: /declare (new or resumed draft)
    question --> question: answer / back / keep
    question --> summary: last question answered
    summary --> question: edit item N
    summary --> receipt: submit
    question --> [*]: save and finish later, /cancel (draft kept)
    question --> discard: discard
    discard --> [*]: confirmed (draft deleted)
    discard --> question: continue
```
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, Message
from aiogram_dialog import Dialog, DialogManager, StartMode, Window
from aiogram_dialog.api.internal import RawKeyboard
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Button as DialogButton
from aiogram_dialog.widgets.kbd import Keyboard, Row
from aiogram_dialog.widgets.text import Format

from bot.crypto import vault_for
from bot.documents.declaration_form import build_declaration_form
from bot.forms.declaration import DECLARATION
from bot.forms.engine import FormSession, Outcome, Screen, Upload
from bot.i18n import t
from bot.rules import identifiers
from bot.rules.values import Invalid
from bot.settings import Settings
from handlers.menu import MenuAction
from storage import submissions
from storage.models import SubmissionKind, SubmissionStatus


class DeclarationSG(StatesGroup):
    form = State()
    discard = State()


# -- the engine, loaded and saved around each input ----------------------------------------------


async def _session(manager: DialogManager) -> FormSession | None:
    settings: Settings = manager.middleware_data["settings"]
    user_id = manager.event.from_user.id
    loaded = await submissions.load_answers(manager.dialog_data["sid"], user_id)
    if loaded is None or loaded[0] != SubmissionStatus.DRAFT:
        return None
    return FormSession(
        DECLARATION,
        loaded[1],
        vault_for(settings),
        today=datetime.now(settings.tz).date(),
        lang=manager.middleware_data.get("lang", "zh"),
    )


def _store_screen(manager: DialogManager, screen: Screen) -> None:
    manager.dialog_data["screen"] = {
        "text": screen.text,
        "buttons": [[[b.id, b.label] for b in row] for row in screen.buttons],
    }


async def _apply(manager: DialogManager, session: FormSession, outcome: Outcome) -> None:
    """Persist the answers, then show the next screen or leave."""
    user_id = manager.event.from_user.id
    sid = manager.dialog_data["sid"]
    if outcome.changed:
        await submissions.save_answers(sid, user_id, session.answers)
    if outcome.leave == "saved":
        await manager.done()
        await _say(manager, t(session.lang, "form.declaration.saved"))
        return
    if outcome.leave == "discarded":
        await manager.switch_to(DeclarationSG.discard)
        return
    if outcome.submit:
        await _submit(manager, session)
        return
    _store_screen(manager, session.screen(outcome.error))


async def _say(manager: DialogManager, text: str) -> None:
    bot: Bot = manager.middleware_data["bot"]
    await bot.send_message(manager.event.from_user.id, text)


async def _closed(manager: DialogManager) -> None:
    """The draft was submitted or removed elsewhere (another device, a double click)."""
    await manager.done()
    await _say(manager, t(manager.middleware_data.get("lang", "zh"), "form.declaration.no_declaration"))


async def on_button(callback: CallbackQuery, widget: Any, manager: DialogManager, button_id: str) -> None:
    session = await _session(manager)
    if session is None:
        await _closed(manager)
        return
    await _apply(manager, session, session.press(button_id))


async def on_message(message: Message, widget: Any, manager: DialogManager) -> None:
    session = await _session(manager)
    if session is None:
        await _closed(manager)
        return
    upload = _upload_of(message)
    if upload is not None:
        outcome = session.upload(upload)
    elif message.text is not None:
        outcome = await _answer_text(manager, session, message.text)
    else:
        # A sticker, a voice note, a location...: say what is expected here.
        expects_file = session.screen().accepts_file
        outcome = Outcome(error=Invalid("file.expected" if expects_file else "form.text_expected"), changed=False)
    await _apply(manager, session, outcome)


async def _answer_text(manager: DialogManager, session: FormSession, text: str) -> Outcome:
    field = session.current_field()
    value = session.parse(text)
    if field is not None and field.remote_check == "uscc_free" and not isinstance(value, Invalid):
        blocker = await submissions.uscc_blocker(value)
        if blocker is not None:
            return Outcome(error=Invalid(f"declaration.uscc_taken_{blocker}"), changed=False)
    return session.answer_parsed(value)


def _upload_of(message: Message) -> Upload | None:
    if message.document is not None:
        d = message.document
        return Upload(d.file_id, d.file_unique_id, d.file_name or "file", d.file_size, d.mime_type or "")
    if message.photo:
        p = message.photo[-1]  # the largest size
        return Upload(p.file_id, p.file_unique_id, f"photo_{p.file_unique_id}.jpg", p.file_size, "image/jpeg")
    return None


# -- submit, receipt and the printable form ------------------------------------------------------


async def _submit(manager: DialogManager, session: FormSession) -> None:
    settings: Settings = manager.middleware_data["settings"]
    user_id = manager.event.from_user.id
    now = datetime.now(settings.tz)
    sid = manager.dialog_data["sid"]  # the dialog's data is gone once it is done
    result = await submissions.submit_declaration(sid, user_id, session.answers, now.date(), now)
    if result.blocked in ("active", "pending"):
        _store_screen(manager, session.screen(Invalid(f"declaration.uscc_taken_{result.blocked}")))
        return
    if result.blocked is not None:
        await _closed(manager)
        return
    await manager.done()
    lang = session.lang
    plain = session.plain_answers()
    submitted = (result.submitted_at or now).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    if result.already:
        await _say(manager, t(lang, "form.declaration.already_submitted", submitted=submitted, reference=result.reference))
        return
    await _say(
        manager,
        t(lang, "form.declaration.receipt", reference=result.reference, unit=plain.get("unit_name", ""),
          station=plain.get("station_name", ""), submitted=submitted),
    )
    await _send_form(manager.middleware_data["bot"], user_id, lang, plain, session.answers.get("_docs", {}),
                     result.reference, now.date())
    await submissions.notify_staff(
        set(settings.staff_ids | settings.admin_ids), "new_declaration", f"submission:{sid}",
        "submitted", "notice.new_declaration",
        {"unit": plain.get("unit_name", ""), "station": plain.get("station_name", ""), "reference": result.reference},
        now,
    )


def _mask(kind: str, value: str) -> str:
    return identifiers.mask_mobile(value) if kind == "mobile" else identifiers.mask_resident_id(value)


async def _send_form(bot: Bot, chat_id: int, lang: str, plain: dict[str, Any], docs: dict[str, Any],
                     reference: str | None, submitted_on: Any) -> None:
    documents = [
        (slot.partition(":")[0], slot.partition(":")[2], f.get("file_name", ""))
        for slot, files in docs.items()
        for f in files
    ]
    # About 0.1 s of CPU: off the event loop, so other users' updates are not held up.
    content = await asyncio.to_thread(
        build_declaration_form, plain, documents, reference=reference, submitted_on=submitted_on, mask=_mask
    )
    await bot.send_document(
        chat_id,
        BufferedInputFile(content, filename=f"{reference or 'draft'}-申报表.docx"),
        caption=t(lang, "form.declaration.form_caption", reference=reference or ""),
    )


# -- the dialog ----------------------------------------------------------------------------------


class ScreenKeyboard(Keyboard):
    """Buttons exactly as the engine described them for the current screen."""

    async def _render_keyboard(self, data: dict[str, Any], manager: DialogManager) -> RawKeyboard:
        rows = manager.dialog_data.get("screen", {}).get("buttons", [])
        return [
            [InlineKeyboardButton(text=label, callback_data=self._item_callback_data(button_id)) for button_id, label in row]
            for row in rows
        ]

    async def _process_item_callback(self, callback: CallbackQuery, data: str, dialog: Any, manager: DialogManager) -> bool:
        await on_button(callback, self, manager, data)
        return True


async def screen_getter(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    screen = dialog_manager.dialog_data.get("screen")
    if screen is None:  # first show after start (or data from before a change of layout)
        session = await _session(dialog_manager)
        if session is not None:
            _store_screen(dialog_manager, session.screen())
            screen = dialog_manager.dialog_data["screen"]
    return {"text": (screen or {}).get("text", "…")}


async def discard_getter(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    lang = dialog_manager.middleware_data.get("lang", "zh")
    return {
        "question": t(lang, "form.declaration.discard_confirm"),
        "yes": t(lang, "form.declaration.discard_yes"),
        "no": t(lang, "form.declaration.discard_no"),
    }


async def on_discard_yes(callback: CallbackQuery, button: Any, manager: DialogManager) -> None:
    await submissions.discard_draft(manager.dialog_data["sid"], callback.from_user.id)
    await manager.done()
    await _say(manager, t(manager.middleware_data.get("lang", "zh"), "form.declaration.discarded"))


async def on_discard_no(callback: CallbackQuery, button: Any, manager: DialogManager) -> None:
    await manager.switch_to(DeclarationSG.form)


async def on_start(start_data: Any, manager: DialogManager) -> None:
    manager.dialog_data["sid"] = start_data["sid"]


def build_dialog() -> Dialog:
    return Dialog(
        Window(
            Format("{text}"),
            ScreenKeyboard(id="k"),
            MessageInput(on_message),
            getter=screen_getter,
            state=DeclarationSG.form,
        ),
        Window(
            Format("{question}"),
            Row(
                DialogButton(Format("{yes}"), id="yes", on_click=on_discard_yes),
                DialogButton(Format("{no}"), id="no", on_click=on_discard_no),
            ),
            getter=discard_getter,
            state=DeclarationSG.discard,
        ),
        on_start=on_start,
    )


# -- commands ------------------------------------------------------------------------------------


async def start_declaration(user_id: int, lang: str, bot: Bot, manager: DialogManager) -> None:
    draft = await submissions.draft_of(user_id, SubmissionKind.ESTABLISHMENT)
    if draft is None:
        draft = await submissions.start_draft(user_id, SubmissionKind.ESTABLISHMENT)
    elif draft.answers:
        await bot.send_message(user_id, t(lang, "form.declaration.resumed"))
    await manager.start(DeclarationSG.form, data={"sid": draft.id}, mode=StartMode.RESET_STACK)


async def declare_command(message: Message, lang: str, bot: Bot, dialog_manager: DialogManager) -> None:
    await start_declaration(message.from_user.id, lang, bot, dialog_manager)


async def declare_menu(query: CallbackQuery, lang: str, bot: Bot, dialog_manager: DialogManager) -> None:
    await query.answer()
    await start_declaration(query.from_user.id, lang, bot, dialog_manager)


async def form_command(message: Message, lang: str, bot: Bot, settings: Settings) -> None:
    """Send the printable 申报表 of the user's latest declaration again."""
    submission = await submissions.latest_declaration(message.from_user.id)
    if submission is None:
        await message.answer(t(lang, "form.declaration.no_declaration"))
        return
    session = FormSession(DECLARATION, dict(submission.answers), vault_for(settings),
                          today=datetime.now(settings.tz).date(), lang=lang)
    submitted_on = submission.submitted_at.astimezone(settings.tz).date() if submission.submitted_at else None
    await _send_form(bot, message.chat.id, lang, session.plain_answers(), submission.answers.get("_docs", {}),
                     submission.reference, submitted_on)


def build_router() -> Router:
    router = Router(name="declaration")
    router.message.register(declare_command, Command("declare"))
    router.message.register(form_command, Command("form"))
    router.callback_query.register(declare_menu, MenuAction.filter(F.action == "declare"))
    router.include_router(build_dialog())
    return router
