"""Who may do what: every command and every button the bot accepts × every role, as one table.

The roles are SPEC §2's actors: a stranger ("nobody": public), a contact of station A, a contact of
station B, staff (configured in STAFF_IDS, and granted in the bot with /staff add), an admin
(ADMIN_IDS). Each cell of `COMMANDS` and `CALLBACKS` says what that person sees:

- `OK`: let through; the bot answers, and nothing it says is a refusal;
- `Refused(key)`: the text `key` (bot/locales) and nothing done: the database is as it was;
  `warn=True` for an attempt the bot had not offered to that person (a staff command, a forged
  button): one WARNING line with the user id, the command or callback prefix and the reason, and
  nothing else the person sent;
- `NA`: the act cannot reach this person (kept so that every role is written down for every row).

Station A's contact goes through a real key-project application first (reference, answers, a
document and the printed form) and issues an invite code; nothing of it may ever reach the
stranger or B's contact, whatever they send. Buttons are pressed with forged callback data naming
A's items (`LeaveAct(station=A)`, a staff `DecisionAct` on A's submission, ...). The tables are
checked against the handlers at run time: a command or a CallbackData class without a row fails.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendDocument, SendMessage, SendPhoto
from aiogram.types import InlineKeyboardMarkup, Message, User
from tortoise import Tortoise

from aiogram import Router
from aiogram.filters import Command
from aiogram_dialog import Dialog

from bot import commands
from bot.forms.registry import FORM_SPECS
from bot.i18n import catalog
from bot.settings import Settings
from handlers.staff.announce import StaffAnnounce, StaffObjection
from chat_harness import NOW, STAFF_ID, USER_ID, Chat, make_settings
from handlers.common import LanguageChoice
from handlers.contacts import LeaveAct
from handlers.menu import MenuAction, menu_entries
from handlers.announcements import NoEvidence, ObjectTo, Subscription
from handlers.staff.contacts import ContactsAct
from handlers.staff.extensions import DecisionAct
from handlers.staff.grants import GrantAction
from handlers.staff.key_projects import KeyProjectAct, WindowAct
from handlers.staff.queue import ItemAction, ReviewAct
from handlers.staff.register_import import ImportAct
from handlers.staff.stations import StationCard
from handlers.staff.supervision import SupAct
from storage import models, queries
from storage.models import ConversationState, Contact, Document, Staff, StationState, Submission
from tests.factories import recognised_station
from tests.flow.test_key_project_form import reach_summary, window

NOBODY, CONTACT_A, COLLEAGUE_A, CONTACT_B, GRANTED, ADMIN = 7001, USER_ID, 5550002, 7201, 7301, 5559002
ROLES = ("nobody", "contact_a", "contact_b", "staff", "granted", "admin")
USERS = {"nobody": NOBODY, "contact_a": CONTACT_A, "contact_b": CONTACT_B, "staff": STAFF_ID, "granted": GRANTED,
         "admin": ADMIN}
ZH = catalog("zh")
# The matrix presses faster than a person could: no flood control for this chat.
UNTHROTTLED = {"throttle_rate": "100000/second", "throttle_burst": 100000} if "throttle_rate" in Settings.model_fields else {}


@dataclass(frozen=True)
class Allowed:
    key: str | None = None  # a text the answer holds, when one is characteristic


@dataclass(frozen=True)
class Refused:
    key: str
    warn: bool = False  # an attempt the bot had not offered: logged


@dataclass(frozen=True)
class NotApplicable:
    why: str


OK = Allowed()
NA = NotApplicable
STAFF_ONLY = Refused("staff.refused", warn=True)
ADMINS_ONLY = Refused("staff.grant.admins_only", warn=True)
OUTDATED = Refused("error.outdated")
Cell = Allowed | Refused | NotApplicable


def row(nobody: Cell, contact_a: Cell, contact_b: Cell, staff: Cell, granted: Cell, admin: Cell) -> dict[str, Cell]:
    return dict(zip(ROLES, (nobody, contact_a, contact_b, staff, granted, admin), strict=True))


def staff_only(insiders: Cell = OK) -> dict[str, Cell]:
    return row(STAFF_ONLY, STAFF_ONLY, STAFF_ONLY, insiders, insiders, insiders)


def everyone(cell: Cell = OK) -> dict[str, Cell]:
    return row(cell, cell, cell, cell, cell, cell)


# -- the world: two stations, A's application, staff with dialogs open ----------------------------

SECRET_FILE = "申报说明.pdf"  # the document A's contact uploaded (reach_summary)


@dataclass
class World:
    chat: Chat
    a_id: int
    b_id: int
    project_id: int
    reference: str
    invite_code: str
    documents: list[str]  # the file ids of A's documents

    async def open_dialog(self, dialog: str) -> str:
        """Opens the dialog for its owner and gives the data of its first button."""
        chat = self.chat
        if dialog == "queue":
            await chat.send("/pending", user=chat.as_user(STAFF_ID))
            return _first_button(chat, STAFF_ID)
        if dialog == "calendar":
            granted = chat.as_user(GRANTED)
            await chat.press_data(StaffAnnounce(action="pick").pack(), user=granted, message=_own_message(chat, granted))
            return _first_button(chat, GRANTED)
        assert dialog == "form", dialog
        await chat.send("/deregister", user=chat.as_user(CONTACT_A))
        return _first_button(chat, CONTACT_A)

    def secrets(self) -> list[str]:
        """What of station A nobody outside it and the bureau may ever read."""
        return [self.reference, "精密模具技师工作站", "精密模具有限公司", "91440300MA5F00009X", "精密模具寿命提升攻关",
                SECRET_FILE, self.invite_code, self.invite_code.replace("-", ""), str(COLLEAGUE_A)]


def _first_button(chat: Chat, user_id: int) -> str:
    message = chat.api.last_message_with_buttons(user_id)
    assert message is not None and isinstance(message.reply_markup, InlineKeyboardMarkup)
    return message.reply_markup.inline_keyboard[0][0].callback_data or ""


@pytest.fixture
async def world(db: str) -> World:
    chat = Chat(make_settings(db, admin_ids=frozenset({ADMIN}), **UNTHROTTLED))
    a = await recognised_station(CONTACT_A, recognised_on=date(2024, 6, 1))
    await Contact.create(user_id=(await _user(COLLEAGUE_A)), station=a, role="contact")
    b = await recognised_station(CONTACT_B, name="乙机电技师工作站", uscc="91440300MA5F0001XX", recognised_on=date(2024, 6, 1))
    for user_id in USERS.values():
        await chat.send("/start", user=chat.as_user(user_id))
    await window()
    await reach_summary(chat)
    await chat.press("提交")
    project = await Submission.get(kind="key_project", station_id=a.id)
    issued = "\n".join(chat.texts(await chat.send("/invite")))
    code = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{2}", issued)
    assert code is not None, issued
    admin = chat.as_user(ADMIN)
    assert "7301" in "\n".join(chat.texts(await chat.send(f"/staff add {GRANTED}", user=admin)))
    documents = await Document.filter(submission_id=project.id).values_list("file_id", flat=True)
    assert documents
    return World(chat, a.id, b.id, project.id, project.reference or "", code.group(0), list(documents))


async def _user(user_id: int) -> int:
    from storage.models import BotUser

    await BotUser.get_or_create(id=user_id)
    return user_id


# -- running one cell ------------------------------------------------------------------------------


PLUMBING = {model._meta.db_table for model in (ConversationState, getattr(models, "UpdateClaim", None)) if model}


@dataclass
class Observed:
    said: list[str]  # every text, alert, caption and file name the person got
    warnings: list[str]
    db_changed: bool
    files: list[str]  # the file ids of documents and photos sent


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table but the plumbing of updates (conversation state, delivery claims)."""
    rows = {}
    for model in Tortoise.apps["models"].values():
        if model._meta.db_table in PLUMBING:
            continue
        rows[model._meta.db_table] = await model.all().order_by(model._meta.pk_attr).values()
    return rows


def _said(calls: list[Any]) -> tuple[list[str], list[str]]:
    said, files = [], []
    for call in calls:
        if isinstance(call, SendMessage | EditMessageText):
            said.append(call.text)
        elif isinstance(call, AnswerCallbackQuery) and call.text:
            said.append(call.text)
        elif isinstance(call, SendDocument | SendPhoto):
            said.append(call.caption or "")
            media = call.document if isinstance(call, SendDocument) else call.photo
            if isinstance(media, str):
                files.append(media)
            else:
                said.append(getattr(media, "filename", "") or "")
    return said, files


async def run(world: World, role: str, act: str, caplog: pytest.LogCaptureFixture) -> Observed:
    """`act` is "/command ..." or callback data; a button is pressed on the person's own last message."""
    chat, user = world.chat, world.chat.as_user(USERS[role])
    before = await snapshot()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        if act.startswith("/"):
            calls = await chat.send(act, user=user)
        else:
            calls = await chat.press_data(act, user=user, message=_own_message(chat, user))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    changed = await snapshot() != before
    said, files = _said(calls)
    return Observed(said, warnings, changed, files)


def _own_message(chat: Chat, user: User) -> Message:
    message = chat.api.last_message_with_buttons(user.id)
    assert message is not None
    return message


# -- the matrix ------------------------------------------------------------------------------------
# A command row: what is sent ({a}: station A's id, {ref}: A's key-project reference). SPEC §2: a
# contact acts on their own station only; staff see all; granting staff is the admins'. §7: the
# contacts' commands are everyone's (each answers for the person's own station, or says why not),
# the staff commands staff's only.

COMMANDS: list[tuple[str, dict[str, Cell]]] = [
    ("/start", everyone(Allowed("start.greeting"))),
    ("/menu", everyone(Allowed("menu.title"))),
    # anyone may start an establishment declaration (§2: the applicant contact is whoever starts it)
    ("/declare", everyone(OK)),
    ("/form", everyone(Refused("form.declaration.nothing_submitted"))),
    ("/project", row(Refused("invalid.key_project.not_recognised"), Refused("invalid.key_project.already_this_year"),
                     OK, *[Refused("invalid.key_project.not_recognised")] * 3)),
    # A's printed 申报表 goes to A's contacts only (§5); B has none of its own
    ("/projectform", row(Refused("form.key_project.nothing_submitted"), Allowed("form.key_project.form_caption"),
                         *[Refused("form.key_project.nothing_submitted")] * 4)),
    ("/filing", row(Refused("invalid.annual_filing.no_station"), OK, OK, *[Refused("invalid.annual_filing.no_station")] * 3)),
    ("/filingform", everyone(Refused("form.annual_filing.nothing_submitted"))),
    ("/extension", row(Refused("invalid.extension.no_station"), OK, OK, *[Refused("invalid.extension.no_station")] * 3)),
    ("/deregister", row(Refused("invalid.deregistration.no_station"), OK, OK,
                        *[Refused("invalid.deregistration.no_station")] * 3)),
    ("/stamped", everyone(Refused("stamped_form.no_declaration"))),
    ("/announcements", everyone(Allowed("announcement.none"))),  # the public's (§2)
    ("/objection", everyone(Allowed("announcement.none"))),
    ("/invite", row(Refused("invite.not_bound"), Allowed("invite.issued"), Allowed("invite.issued"),
                    *[Refused("invite.not_bound")] * 3)),
    ("/join", row(Allowed("invite.join_ask"), Refused("invite.already_bound"), Refused("invite.already_bound"),
                  *[Allowed("invite.join_ask")] * 3)),
    ("/leave", row(Refused("invite.leave_not_bound"), Allowed("invite.leave_confirm"), Refused("invite.leave_last"),
                   *[Refused("invite.leave_not_bound")] * 3)),
    ("/status", row(Allowed("status.no_station"), Allowed("status.station"), Allowed("status.station"),
                    *[Allowed("status.staff_title")] * 3)),
    ("/help", everyone(Allowed("help.title"))),
    ("/lang zh", everyone(Allowed("lang.current"))),
    ("/cancel", everyone(Allowed("cancel.nothing"))),
    ("/pending", staff_only(Allowed("staff.queue.title"))),
    ("/review {ref}", staff_only()),
    ("/staff", row(STAFF_ONLY, STAFF_ONLY, STAFF_ONLY, Refused("staff.grant.admins_only"),
                   Refused("staff.grant.admins_only"), Allowed("staff.grant.title"))),
    ("/stations", staff_only(Allowed("staff.stations.all"))),
    ("/export", staff_only(Allowed("staff.export.preparing"))),
    ("/export full", row(STAFF_ONLY, STAFF_ONLY, STAFF_ONLY, Refused("staff.export.full_admins_only"),
                         Refused("staff.export.full_admins_only"), Allowed("staff.export.preparing_full"))),
    ("/announce", staff_only(Allowed("staff.announce.nothing"))),
    ("/objections", staff_only(Allowed("staff.announce.no_objections"))),
    ("/holidays", staff_only(Allowed("staff.announce.holidays_usage"))),
    ("/kpwindow", staff_only(Allowed("staff.kp.windows_title"))),
    ("/supervision", staff_only(Allowed("supervision.no_candidates"))),
    ("/contacts {a}", staff_only()),
    ("/bind", staff_only(Allowed("invite.staff.usage_bind"))),
    ("/digest", staff_only(Allowed("digest.title_daily"))),
    ("/import", staff_only(Allowed("import.bot.ask"))),
]


@dataclass(frozen=True)
class Press:
    """A button: CallbackData built from the world (forged where it names A's items), or a dialog's."""

    name: str
    build: Any  # World -> str
    cells: dict[str, Cell]
    kind: type[CallbackData] | None = None
    dialog: str | None = None  # the dialog whose owner's open window gives the data


def press(kind: type[CallbackData], build: Any, cells: dict[str, Cell], name: str = "") -> Press:
    return Press(name or kind.__prefix__, lambda w: build(w).pack(), cells, kind=kind)


STALE = Refused("invite.leave_stale", warn=True)


def menu_row(action: str, cells: dict[str, Cell]) -> Press:
    return press(MenuAction, lambda w: MenuAction(action=action), cells, name=f"menu:{action}")


def dialog_row(dialog: str, owner: str) -> Press:
    """A press in someone's open dialog: the owner's goes on, anyone else's finds no such dialog."""
    cells = {role: OK if role == owner else OUTDATED for role in ROLES}
    return Press(f"dialog:{dialog}", lambda w: w.open_dialog(dialog), cells, dialog=dialog)


# In this order: the rows that change who is who (a grant, a window, A's contact leaving) come last.
CALLBACKS: list[Press] = [
    dialog_row("queue", "staff"),  # /pending: the review queue (staff)
    dialog_row("calendar", "granted"),  # /announce 选择日期: the date picker (staff)
    dialog_row("form", "contact_a"),  # a form's window (A's deregistration draft)
    menu_row("status", row(Allowed("status.no_station"), Allowed("status.station"), Allowed("status.station"),
                           *[Allowed("status.staff_title")] * 3)),
    menu_row("lang", everyone(Allowed("lang.changed"))),
    menu_row("help", everyone(Allowed("help.title"))),
    menu_row("declare", everyone(OK)),
    menu_row("filing", row(Refused("invalid.annual_filing.no_station"), OK, OK,
                           *[Refused("invalid.annual_filing.no_station")] * 3)),
    menu_row("extension", row(Refused("invalid.extension.no_station"), OK, OK, *[Refused("invalid.extension.no_station")] * 3)),
    menu_row("deregister", row(Refused("invalid.deregistration.no_station"), OK, OK,
                               *[Refused("invalid.deregistration.no_station")] * 3)),
    menu_row("project", row(Refused("invalid.key_project.not_recognised"), Refused("invalid.key_project.already_this_year"),
                            OK, *[Refused("invalid.key_project.not_recognised")] * 3)),
    # a menu button the menu never had: answered, never silent
    menu_row("revoke", everyone(Refused("error.outdated", warn=True))),
    press(LanguageChoice, lambda w: LanguageChoice(code="zh"), everyone(Allowed("lang.current"))),
    press(ObjectTo, lambda w: ObjectTo(item=999), everyone(Allowed("objection.unknown_item"))),
    press(NoEvidence, lambda w: NoEvidence(item=999), everyone(Allowed("objection.lost"))),
    press(Subscription, lambda w: Subscription(on=True), everyone(Allowed("announcement.subscription.subscribed"))),
    # the staff buttons, forged by the others with A's items in them
    press(ItemAction, lambda w: ItemAction(id=w.project_id, op="print"), staff_only(Allowed("form.key_project.form_caption")),
          name="staff_item:print"),
    press(ItemAction, lambda w: ItemAction(id=w.project_id, op="docs"), staff_only(Allowed("staff.review.doc_caption")),
          name="staff_item:docs"),
    press(ItemAction, lambda w: ItemAction(id=w.project_id, op="reveal"), staff_only(), name="staff_item:reveal"),
    press(StationCard, lambda w: StationCard(station_id=w.a_id), staff_only()),
    press(ContactsAct, lambda w: ContactsAct(action="issue", station=w.a_id), staff_only(Allowed("invite.staff.issued"))),
    press(SupAct, lambda w: SupAct(action="card", id=w.a_id), staff_only()),
    press(DecisionAct, lambda w: DecisionAct(id=w.project_id, op="xa", months=3, state="submitted", step="y"), staff_only()),
    press(KeyProjectAct, lambda w: KeyProjectAct(id=w.project_id, op="g", level=1, state="under_review", step="y"),
          staff_only()),
    press(StaffAnnounce, lambda w: StaffAnnounce(action="close", id=1), staff_only()),
    press(StaffObjection, lambda w: StaffObjection(action="uphold", id=1), staff_only()),
    press(ImportAct, lambda w: ImportAct(token="forged", step="y"), staff_only()),
    press(ReviewAct, lambda w: ReviewAct(id=w.project_id, action="accept_for_review", state="submitted", step="y"),
          staff_only()),
    press(WindowAct, lambda w: WindowAct(op="close", year=2026, opens="20261120", closes="20261215", step="y"), staff_only()),
    # withdrawing a grant (of someone never granted): an admin's button only
    press(GrantAction, lambda w: GrantAction(action="yes", user_id=NOBODY),
          row(STAFF_ONLY, STAFF_ONLY, STAFF_ONLY, ADMINS_ONLY, ADMINS_ONLY, Allowed("staff.grant.not_granted"))),
    # leaving a station: only one's own; B's last contact may not
    press(LeaveAct, lambda w: LeaveAct(station=w.b_id, ok=1),
          row(STALE, STALE, Refused("invite.leave_last"), STALE, STALE, STALE), name="contact_leave:B"),
    press(LeaveAct, lambda w: LeaveAct(station=w.a_id, ok=0), everyone(Allowed("invite.leave_cancelled")),
          name="contact_leave:A:stay"),
    press(LeaveAct, lambda w: LeaveAct(station=w.a_id, ok=1),
          row(STALE, Allowed("invite.left"), STALE, STALE, STALE, STALE), name="contact_leave:A"),
]


# -- the checks ------------------------------------------------------------------------------------

EN = catalog("en")
# What says "not for you" whatever the act: none of it may reach someone a cell lets through.
ACCESS_REFUSALS = ("staff.refused", "staff.grant.admins_only", "error.outdated", "error.generic", "invite.leave_stale")


def pattern(key: str) -> re.Pattern[str]:
    """The text of `key` in either language, its {params} matching anything."""
    def one(template: str) -> str:
        return "".join(".*?" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", template))
    return re.compile("|".join(one(c[key]) for c in (ZH, EN) if key in c), re.DOTALL)


def says(observed: Observed, key: str) -> bool:
    found = pattern(key)
    return any(found.search(text) for text in observed.said)


def check(world: World, where: str, role: str, cell: Cell, observed: Observed, act: str) -> list[str]:
    """What differs from the cell (empty: as the table says)."""
    problems = []
    user_id = USERS[role]
    if isinstance(cell, NotApplicable):
        return problems
    if not observed.said:
        problems.append("no answer at all")
    if isinstance(cell, Allowed):
        if cell.key and not says(observed, cell.key):
            problems.append(f"expected {cell.key}")
        refusals = [key for key in ACCESS_REFUSALS if says(observed, key)]
        if refusals:
            problems.append(f"refused ({', '.join(refusals)})")
        if observed.warnings:
            problems.append(f"unexpected WARNING {observed.warnings}")
    else:
        if not says(observed, cell.key):
            problems.append(f"expected the refusal {cell.key}")
        if observed.db_changed:
            problems.append("the database changed")
        if cell.warn:
            prefix = act.split(maxsplit=1)[0] if act.startswith("/") else act.split(":", 1)[0]
            logged = [w for w in observed.warnings if str(user_id) in w and prefix in w and "refused" in w]
            if len(logged) != 1 or len(observed.warnings) != 1:
                problems.append(f"expected one WARNING naming {user_id} and {prefix!r}: {observed.warnings}")
        elif observed.warnings:
            problems.append(f"unexpected WARNING {observed.warnings}")
    for line in observed.warnings:  # the log names the user by id and the act by prefix, nothing else
        typed = [word for word in act.split()[1:] if len(word) > 3]  # what the person typed after a command
        leaked = [s for s in [*world.secrets(), *typed] if s in line]
        if leaked:
            problems.append(f"the log line says {leaked}: {line}")
    if role in ("nobody", "contact_b"):
        leaked = [s for s in world.secrets() if any(s in text for text in observed.said)]
        leaked += [f for f in observed.files if f in world.documents]
        if leaked:
            problems.append(f"station A's {leaked} shown")
    return [f"{where} × {role}: {p}" for p in problems]


async def test_every_command_and_button_for_every_role(world: World, caplog: pytest.LogCaptureFixture) -> None:
    chat = world.chat
    problems: list[str] = []
    cells = 0
    for template, cells_of in COMMANDS:
        act = template.format(a=world.a_id, ref=world.reference)
        for role in ROLES:
            observed = await run(world, role, act, caplog)
            problems += check(world, template, role, cells_of[role], observed, act)
            cells += 1
            # a question the command asked (an invite code, a file) is not the next row's business
            await chat.send("/cancel", user=chat.as_user(USERS[role]))
    for button in CALLBACKS:
        for role in ROLES:
            data = await button.build(world) if button.dialog else button.build(world)
            observed = await run(world, role, data, caplog)
            problems += check(world, button.name, role, button.cells[role], observed, data)
            cells += 1
            if button.name == "menu:lang":
                await queries.set_language(USERS[role], "zh")
    assert not problems, "\n".join(problems)
    assert cells == len(ROLES) * (len(COMMANDS) + len(CALLBACKS))
    # A's contact left last of all: the colleague is A's only one now, and no one else joined A
    assert await Contact.filter(station_id=world.a_id, active=True).values_list("user_id", flat=True) == [COLLEAGUE_A]


# -- the tables cover what the bot takes -----------------------------------------------------------

STAFF_DIALOGS = {"QueueSG": "queue", "AnnounceStartSG": "calendar"}  # a staff dialog's states → its row


def _routers(router: Router) -> list[Router]:
    found = [router]
    for child in router.sub_routers:
        found += _routers(child)
    return found


def _handlers_callback_data() -> set[type[CallbackData]]:
    found, pending = set(), list(CallbackData.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] == "handlers":
            found.add(cls)
    return found


async def test_every_command_callback_and_dialog_the_bot_takes_has_a_row(db: str) -> None:
    dp = Chat(make_settings(db)).dp  # imports every handler module and registers every router
    registered, dialogs = set(), set()
    for router in _routers(dp):
        if isinstance(router, Dialog):
            dialogs.add(router.states_group())
        for handler in router.message.handlers:
            for f in handler.filters or []:
                if isinstance(f.callback, Command):
                    registered |= {c for c in f.callback.commands if isinstance(c, str)}
    rows = {template.split()[0].removeprefix("/") for template, _ in COMMANDS}
    assert registered - rows == set(), "commands without a row in COMMANDS"
    assert set(commands.STAFF_COMMANDS) - rows == set(), "listed commands without a row in COMMANDS"
    assert rows - registered == set(), "rows for commands no handler takes"
    kinds = {button.kind for button in CALLBACKS if button.kind}
    assert _handlers_callback_data() - kinds == set(), "CallbackData classes without a row in CALLBACKS"
    menu = {button.name for button in CALLBACKS if button.kind is MenuAction}
    assert {f"menu:{e.action}" for e in menu_entries(FORM_SPECS)} - menu == set(), "menu buttons without a row"
    dialog_rows = {button.dialog for button in CALLBACKS if button.dialog}
    for group in dialogs:
        if group.__module__.startswith("aiogram_dialog"):
            continue  # the library's "about" window: nothing of ours starts it
        if group.__module__ == "handlers.forms":  # every form's dialog is the one FormDialog
            assert "form" in dialog_rows
        else:
            assert STAFF_DIALOGS.get(group.__name__) in dialog_rows, f"a dialog without a row: {group.__name__}"
    for template, cells in COMMANDS:
        assert set(cells) == set(ROLES), template
    for button in CALLBACKS:
        assert set(button.cells) == set(ROLES), button.name


# -- a withdrawn grant -------------------------------------------------------------------------------


async def test_a_withdrawn_grant_loses_every_staff_door_on_the_very_next_press(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    chat = world.chat
    granted, admin = chat.as_user(GRANTED), chat.as_user(ADMIN)
    # while granted: the queue open, A's item in hand (its buttons), a command
    await chat.send("/pending", user=granted)
    queue_button = _first_button(chat, GRANTED)
    assert chat.texts(await chat.send(f"/review {world.reference}", user=granted))
    print_button = ItemAction(id=world.project_id, op="print").pack()
    assert chat.documents(await chat.press_data(print_button, user=granted, message=_own_message(chat, granted)))
    # the admin withdraws the grant in the chat
    await chat.send(f"/staff remove {GRANTED}", user=admin)
    await chat.press_data(GrantAction(action="yes", user_id=GRANTED).pack(), user=admin, message=_own_message(chat, admin))
    assert not await Staff.filter(user_id=GRANTED, active=True).exists()
    # the very next press of each is refused, logged, and changes nothing
    for act, prefix in ((print_button, "staff_item"), (queue_button, "QueueSG"), ("/pending", "/pending"),
                        (f"/review {world.reference}", "/review")):
        observed = await run(world, "granted", act, caplog)
        assert says(observed, "staff.refused") and not observed.db_changed, (act, observed)
        assert not observed.files and not any(world.reference in text for text in observed.said), act
        assert len(observed.warnings) == 1 and prefix in observed.warnings[0] and str(GRANTED) in observed.warnings[0]
        assert world.reference not in observed.warnings[0]


# -- a stamped 申报表 goes to the sender's own declaration only -------------------------------------


async def test_a_stamped_form_is_filed_under_the_senders_own_declaration_only(db: str) -> None:
    chat = Chat(make_settings(db, **UNTHROTTLED))
    a = await recognised_station(CONTACT_A, state=StationState.APPLYING)
    await recognised_station(CONTACT_B, name="乙机电技师工作站", uscc="91440300MA5F0001XX")
    declaration = await Submission.create(
        kind="establishment", status="submitted", station=a, unit_id=a.unit_id, created_by=CONTACT_A,
        reference="SZJS-2026-0042", submitted_at=NOW, answers={"unit_name": "精密模具有限公司"})

    async def stamped(user: User) -> list[str]:
        """/stamped with the scan attached, as one message."""
        document = chat.api.add_file(b"%PDF-1.4 stamped", "盖章申报表.pdf", "application/pdf")
        start = chat.mark()
        await chat.dp.feed_update(chat.bot, chat.api.user_message(user, document=document, caption="/stamped"))
        return chat.texts(chat.api.calls[start:])

    for outsider in (CONTACT_B, NOBODY, STAFF_ID):
        said = await stamped(chat.as_user(outsider))
        assert said and all(declaration.reference not in text for text in said), said
        assert any(pattern("stamped_form.no_declaration").search(text) for text in said), said
        assert not await Document.filter(submission_id=declaration.id).exists()
    said = await stamped(chat.as_user(CONTACT_A))
    assert any(pattern("stamped_form.received").search(text) for text in said), said
    assert await Document.filter(submission_id=declaration.id, uploaded_by=CONTACT_A).count() == 1
