"""Every form's dialog, built from its spec: one module renders them all.

Each spec (bot/forms/registry.py) gets a dialog with one window that shows whatever screen the
engine describes (question, item list, document checklist, summary) and one window to confirm
discarding, a command that opens it, and optionally a menu button and a "print again" command.
The answers live in the submission row, saved after every step; the dialog's own data holds only
the submission id. The screen is rendered from the draft (the handler hands the one it rendered,
with its error if any, to the window of the same update), so a restart resumes exactly where the
person was, and a step writes no dialog row that the draft already says.
Handlers here parse the update, call bot.services.forms and render what it returns.

```mermaid
stateDiagram-v2
    [*] --> question: /<command> (new or resumed draft)
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

from bot.clock import Clock
from bot.forms.engine import FormSession, Outcome, Screen, error_text
from bot.forms.spec import FormSpec
from bot.i18n import has_text, t
from bot.rules.values import Invalid
from bot.services import forms as service
from bot.services.forms import PrintedForm
from bot.settings import Settings
from handlers.dialog_scope import scoped
from handlers.menu import MenuAction
from handlers.uploads import upload_of


def form_text(lang: str, spec: FormSpec, name: str, **params: Any) -> str:
    """A form's own text ("form.<id>.<name>"), or the generic one that names the form."""
    key = spec.text(name)
    if not has_text(key):
        key = f"form.generic.{name}"
    return t(lang, key, title=t(lang, spec.text("title")), command=spec.command, **_shown_params(lang, params))


def _shown_params(lang: str, params: dict[str, Any]) -> dict[str, Any]:
    """A param named "<x>_key" is a text key, shown in the person's language as {x} (as in notices);
    its value may also be a (key, params) pair, or a list of keys and pairs shown one per line (the
    shortfalls a filing's receipt lists)."""
    shown = {}
    for param, value in params.items():
        if param.endswith("_key"):
            shown[param.removesuffix("_key")] = _text_param(lang, value)
        else:
            shown[param] = value
    return shown


def _text_param(lang: str, value: Any) -> str:
    if isinstance(value, str):
        return t(lang, value)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict):
        return t(lang, value[0], **_shown_params(lang, value[1]))
    return "\n".join(_text_param(lang, item) for item in value)


# Where a handler leaves the screen it rendered for the window's getter, in the update's data.
_SCREEN = "form_screen"


class ScreenKeyboard(Keyboard):
    """Buttons exactly as the engine described them for the current screen."""

    def __init__(self, on_press: Any, id: str) -> None:  # noqa: A002 - aiogram-dialog's name
        super().__init__(id=id)
        self._on_press = on_press

    async def _render_keyboard(self, data: dict[str, Any], manager: DialogManager) -> RawKeyboard:
        rows = data.get("buttons", [])
        version = data.get("version", 0)
        return [
            [InlineKeyboardButton(text=label, callback_data=self._item_callback_data(f"{version}|{button_id}"))
             for button_id, label in row]
            for row in rows
        ]

    async def _process_item_callback(self, callback: CallbackQuery, data: str, dialog: Any, manager: DialogManager) -> bool:
        # "<version>|<button>": the screen's version when it was shown (none on older messages).
        version, _, button_id = data.rpartition("|")
        await self._on_press(callback, manager, button_id, int(version) if version.isdigit() else None)
        return True


class FormDialog:
    """The dialog, commands and menu button of one form spec."""

    def __init__(self, spec: FormSpec) -> None:
        self.spec = spec
        # The state names are stored with every dialog stack: keep them stable ("DeclarationSG:form").
        name = "".join(part.title() for part in spec.form.id.split("_")) + "SG"
        self.states: Any = type(name, (StatesGroup,), {"form": State(), "discard": State(), "__module__": __name__})

    # -- the engine, loaded and saved around each input ------------------------------------------

    @staticmethod
    def _env(manager: DialogManager) -> tuple[int, str, Clock, Settings]:
        data = manager.middleware_data
        return manager.event.from_user.id, data.get("lang", "zh"), data["clock"], data["settings"]

    async def _session(self, manager: DialogManager) -> FormSession | None:
        user_id, lang, clock, settings = self._env(manager)
        return await service.load(self.spec, manager.dialog_data["sid"], user_id, lang, clock, settings)

    @staticmethod
    def _store_screen(manager: DialogManager, screen: Screen) -> None:
        """The screen this update shows: for the window's getter, not kept in the dialog's data."""
        manager.middleware_data[_SCREEN] = screen

    async def _apply(self, manager: DialogManager, session: FormSession, outcome: Outcome,
                     message: Message | None = None) -> None:
        """Persist the answers, then show the next screen or leave."""
        user_id = manager.event.from_user.id
        if outcome.changed:
            session.mark_changed(*(_input_of(message) if message is not None else ()))
            await service.save(manager.dialog_data["sid"], user_id, session)
        if outcome.leave == "saved":
            await manager.done()
            await self._say(manager, form_text(session.lang, self.spec, "saved"))
            return
        if outcome.leave == "discarded":
            await manager.switch_to(self.states.discard)
            return
        if outcome.submit:
            await self._submit(manager, session)
            return
        self._store_screen(manager, session.screen(outcome.error))

    @staticmethod
    async def _say(manager: DialogManager, text: str) -> None:
        bot: Bot = manager.middleware_data["bot"]
        await bot.send_message(manager.event.from_user.id, text)

    async def _closed(self, manager: DialogManager) -> None:
        """The draft was submitted or removed elsewhere (another device, a double click), or submitted
        by this dialog before the bot stopped: a submitted one is named with its reference, as its
        receipt did (which may never have arrived)."""
        user_id, lang, _, settings = self._env(manager)
        sid = manager.dialog_data.get("sid")
        await manager.done()
        submitted = await service.submitted(sid, user_id, settings) if sid is not None else None
        if submitted is not None:
            reference, at = submitted
            await self._say(manager, form_text(lang, self.spec, "already_submitted", reference=reference,
                                               submitted=at.strftime("%Y-%m-%d %H:%M") if at else ""))
            return
        await self._say(manager, form_text(lang, self.spec, "nothing_submitted"))

    async def on_button(self, callback: CallbackQuery, manager: DialogManager, button_id: str,
                        version: int | None = None) -> None:
        session = await self._session(manager)
        if session is None:
            await self._closed(manager)
            return
        if version is not None and version != session.version:
            # A button of a screen the form has left: pressed again because the next screen never
            # arrived (the bot stopped after keeping the first press), or on an older message. The
            # press belonged to that screen, not to this one: show where the form is.
            self._store_screen(manager, session.screen())
            return
        await self._apply(manager, session, await session.press(button_id))

    async def on_message(self, message: Message, widget: Any, manager: DialogManager) -> None:
        session = await self._session(manager)
        if session is None:
            await self._closed(manager)
            return
        if session.resent(*_input_of(message)):
            self._store_screen(manager, session.screen())
            return
        upload = upload_of(message)
        if upload is not None:
            outcome = session.upload(upload)
        elif message.text is not None:
            outcome = await session.answer_text(message.text)
        else:
            # A sticker, a voice note, a location...: say what is expected here.
            expects_file = session.screen().accepts_file
            outcome = Outcome(error=Invalid("file.expected" if expects_file else "form.text_expected"), changed=False)
        await self._apply(manager, session, outcome, message)

    # -- submit, receipt and the printable form --------------------------------------------------

    async def _submit(self, manager: DialogManager, session: FormSession) -> None:
        user_id, lang, clock, settings = self._env(manager)
        sid = manager.dialog_data["sid"]  # the dialog's data is gone once it is done
        outcome = await service.submit(self.spec, session, sid, user_id, clock, settings)
        if outcome.error is not None:
            self._store_screen(manager, session.screen(outcome.error))
            return
        if outcome.closed:
            await self._closed(manager)
            return
        submitted = outcome.submitted_at.strftime("%Y-%m-%d %H:%M") if outcome.submitted_at else ""
        if outcome.already:
            await manager.done()
            await self._say(manager, form_text(lang, self.spec, "already_submitted", submitted=submitted,
                                               reference=outcome.reference))
            return
        # The receipt first, while the summary keeps its buttons: should the bot stop before the
        # receipt is out, 提交 pressed again answers with the reference (see _closed).
        await self._say(manager, form_text(lang, self.spec, "receipt", reference=outcome.reference,
                                           submitted=submitted, **outcome.receipt_params))
        await manager.done()
        if outcome.printed is not None:
            await _send_printed(manager.middleware_data["bot"], user_id, lang, outcome.printed)

    # -- the dialog ------------------------------------------------------------------------------

    async def screen_getter(self, dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
        dialog_manager.dialog_data.pop("screen", None)  # kept there before: no longer stored
        screen: Screen | None = dialog_manager.middleware_data.get(_SCREEN)
        if screen is None:  # no handler rendered it in this update (first show, back from discard)
            session = await self._session(dialog_manager)
            if session is not None:
                screen = session.screen()
                self._store_screen(dialog_manager, screen)
        if screen is None:
            return {"text": "…", "buttons": []}
        return {"text": screen.text, "buttons": [[(b.id, b.label) for b in row] for row in screen.buttons],
                "version": screen.version}

    async def discard_getter(self, dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
        lang = dialog_manager.middleware_data.get("lang", "zh")
        return {name: form_text(lang, self.spec, f"discard_{name}") for name in ("confirm", "yes", "no")}

    async def on_discard_yes(self, callback: CallbackQuery, button: Any, manager: DialogManager) -> None:
        await service.discard(manager.dialog_data["sid"], callback.from_user.id)
        await manager.done()
        await self._say(manager, form_text(manager.middleware_data.get("lang", "zh"), self.spec, "discarded"))

    async def on_discard_no(self, callback: CallbackQuery, button: Any, manager: DialogManager) -> None:
        await manager.switch_to(self.states.form)

    @staticmethod
    async def on_start(start_data: Any, manager: DialogManager) -> None:
        manager.dialog_data["sid"] = start_data["sid"]

    def dialog(self) -> Dialog:
        return scoped(Dialog(
            Window(
                Format("{text}"),
                ScreenKeyboard(self.on_button, id="k"),
                MessageInput(self.on_message),
                getter=self.screen_getter,
                state=self.states.form,
            ),
            Window(
                Format("{confirm}"),
                Row(
                    DialogButton(Format("{yes}"), id="yes", on_click=self.on_discard_yes),
                    DialogButton(Format("{no}"), id="no", on_click=self.on_discard_no),
                ),
                getter=self.discard_getter,
                state=self.states.discard,
            ),
            on_start=self.on_start,
        ))

    # -- commands --------------------------------------------------------------------------------

    async def start(self, user_id: int, lang: str, bot: Bot, manager: DialogManager, clock: Clock,
                    settings: Settings) -> None:
        refused = await service.may_start(self.spec, user_id, clock, settings)
        if refused is not None:
            await bot.send_message(user_id, error_text(lang, refused))
            return
        sid, resumed = await service.open_draft(self.spec, user_id)
        if resumed:
            await bot.send_message(user_id, form_text(lang, self.spec, "resumed"))
        await manager.start(self.states.form, data={"sid": sid}, mode=StartMode.RESET_STACK)

    async def command(self, message: Message, lang: str, bot: Bot, dialog_manager: DialogManager, clock: Clock,
                      settings: Settings) -> None:
        await self.start(message.from_user.id, lang, bot, dialog_manager, clock, settings)

    async def menu(self, query: CallbackQuery, lang: str, bot: Bot, dialog_manager: DialogManager, clock: Clock,
                   settings: Settings) -> None:
        await query.answer()
        await self.start(query.from_user.id, lang, bot, dialog_manager, clock, settings)

    async def reprint(self, message: Message, lang: str, bot: Bot, clock: Clock, settings: Settings) -> None:
        printed = await service.reprint(self.spec, message.from_user.id, lang, clock, settings)
        if printed is None:
            await message.answer(form_text(lang, self.spec, "nothing_submitted"))
            return
        await _send_printed(bot, message.chat.id, lang, printed)

    def router(self) -> Router:
        router = Router(name=f"form:{self.spec.form.id}")
        router.message.register(self.command, Command(self.spec.command))
        if self.spec.reprint_command:
            router.message.register(self.reprint, Command(self.spec.reprint_command))
        if self.spec.menu_action:
            router.callback_query.register(self.menu, MenuAction.filter(F.action == self.spec.menu_action))
        router.include_router(self.dialog())
        return router


def _input_of(message: Message) -> tuple[int, str]:
    """A message as the draft remembers the one that changed it: its id and what it carried."""
    upload = upload_of(message)
    return message.message_id, upload.file_unique_id if upload is not None else (message.text or "")


async def _send_printed(bot: Bot, chat_id: int, lang: str, printed: PrintedForm) -> None:
    await bot.send_document(
        chat_id,
        BufferedInputFile(printed.content, filename=printed.filename),
        caption=t(lang, printed.caption_key, reference=printed.reference),
    )


def build_router(specs: tuple[FormSpec, ...]) -> Router:
    """One router holding every form's dialog, commands and menu button."""
    router = Router(name="forms")
    for spec in specs:
        router.include_router(FormDialog(spec).router())
    return router
