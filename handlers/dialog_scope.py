"""What a dialog takes: presses of its own buttons and what is typed into it, never a command or
another feature's button.

aiogram-dialog registers a dialog's handlers for every callback and every message while the
dialog is on top of the person's stack. A router's handlers are tried in order, so an open dialog
would swallow whatever comes after its router: with the review queue open, 一级 on a key project
or /status only drew the queue again; with one form open, another form's menu button drew the open
form. `scoped(dialog)` narrows it: a callback only when its data carries a dialog's intent id (the
widgets' own), a message only when it is not a command, and not while a question asked outside the
dialog awaits its answer (the reason for a decision, the register's file: the person's own state is
set), which came after the dialog and so is what the person is answering.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram_dialog import Dialog
from aiogram_dialog.utils import remove_intent_id


class DialogButton(Filter):
    """The callback data of a dialog widget ("<intent id>\\x1d<widget data>")."""

    async def __call__(self, query: CallbackQuery) -> bool:
        intent_id, _ = remove_intent_id(query.data or "")
        return intent_id is not None


class NotACommand(Filter):
    async def __call__(self, message: Message) -> bool:
        return not (message.text or "").startswith("/")


class NoQuestionOutside(Filter):
    async def __call__(self, message: Message, state: FSMContext | None = None) -> bool:
        return state is None or await state.get_state() is None


def scoped(dialog: Dialog) -> Dialog:
    dialog.callback_query.filter(DialogButton())
    dialog.message.filter(NotACommand(), NoQuestionOutside())
    return dialog
