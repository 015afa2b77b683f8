"""Random updates from several people at once through the real Dispatcher and database: nothing
breaks, every private update is answered with something the bot means to say, nothing is said in
groups or channels, and the database stays sound (tests/reliability/invariants.py).

The people: a stranger, a contact of station A, a contact of station B, and staff. What they send,
in any order: texts of any length and script (empty-ish, up to 5,000 characters, right-to-left,
emoji, NUL and other control characters, HTML-looking markup), every command of bot/commands.py at
any moment (with and without arguments), stickers, photos, documents of a wrong type and of 25 MB
(over what a bot may download), edited messages, buttons of their own latest keyboard, buttons of
earlier keyboards (their own or someone else's), forged callback data (random strings, known
prefixes with other ids), messages in groups, supergroups and channels; and a person may block the
bot (whatever it sends them is refused with 403 Forbidden).

"Answered" means: a message to that chat (or an edit of one), a document, or, for a button, the
callback answered and something said; every text the bot sends begins with one of the locales'
texts (bot/locales), and none is the apology for an unexpected failure. A non-text message in the
middle of a form gets what the form expects here (text, a file, a button) and the same question.

Under CI=true the examples are derandomised (the same every run); otherwise hypothesis picks new
ones, and prints the failing example (the actions, in order) and how to reproduce it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import CallbackQuery, Chat as TgChat, InlineKeyboardMarkup, Message, PhotoSize, Sticker, User
from hypothesis import HealthCheck, Phase, event, example, given, note, settings, strategies as st
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from bot.commands import STAFF_COMMANDS
from bot.i18n import LANGUAGES, catalog, t
from bot.local_session import LocalBotApi
from storage.db import tortoise_config
from storage.models import Station, Submission, SubmissionKind
from storage.submissions import start_draft, submit
from tests.chat_harness import NOW, STAFF_ID, Chat, make_settings
from tests.conftest import IN_CI
from tests.factories import recognised_station
from tests.reliability.invariants import broken_invariants

STRANGER = 5550901
CONTACT_A = 5550902
CONTACT_B = 5550903
PEOPLE = (STRANGER, CONTACT_A, CONTACT_B, STAFF_ID)
GROUP_ID = -1001234567
CHANNEL_ID = -1009876543
MB = 1024 * 1024

# Budget (the whole file ≤ 90 s on CI's two cores): examples on SQLite, and a smaller run on
# PostgreSQL with the conversation state in Redis.
SQLITE_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
POSTGRES_EXAMPLES = max(1, SQLITE_EXAMPLES // 5)
STEPS = 12  # updates per example, at most


# -- what people send -----------------------------------------------------------------------------

SPECIAL_TEXTS = (
    " ", "\u3000", "\u200b", "\ufeff", "\x00", "a\x00b", "\x07\x1b[31m", "\u202eRTL override", "مرحبا بكم في",
    "שלום עולם", "👨‍👩‍👧‍👦🇨🇳", "<b>粗体</b>", "<script>alert(1)</script>", "&lt;&amp;", "{name}", "{", "%s %d",
    "/", "@szjs_station_bot", "是", "否", "有", "没有", "yes", "no", "1", "0", "-1", "3", "99999999999999999999",
    "2026-03-01", "2016-02-30", "１２３", "50万", "¥500,000.00", "91440300MA5F00009X", "91440300MA5F00009Y",
    "440301198001011233", "13800138000", "name@example.com", "深圳精密模具有限公司", "改2", "#3", "跳过", "提交",
)
# Texts of any script and length; long ones are built, not drawn character by character (cheap).
TEXTS = st.one_of(
    st.sampled_from(SPECIAL_TEXTS),
    st.text(max_size=40),
    st.builds(lambda piece, n: (piece * n)[: max(1, n)], st.sampled_from(["a", "字", "🙂", "ש", "<b>", "\u200f", "x y "]),
              st.integers(min_value=1, max_value=5000)),
)
COMMANDS = st.builds(
    lambda name, args, suffix: f"/{name}{suffix}{(' ' + args) if args else ''}",
    st.sampled_from(sorted(set(STAFF_COMMANDS)) + ["unknown", "START"]),
    st.one_of(st.just(""), st.sampled_from(["en", "zh", "ABCD1234", "1", "-5", "x" * 70]), st.text(max_size=10)),
    st.sampled_from(["", "", "@szjs_station_bot", "@other_bot"]),
)
DOCUMENTS = st.sampled_from((
    ("wrong_type", "setup.exe", "application/x-msdownload", None),
    ("too_big", "scan.pdf", "application/pdf", 25 * MB),
    ("pdf", "scan.pdf", "application/pdf", None),
    ("xlsx_garbage", "register.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", None),
    ("docx", "form.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
    ("no_name", "", "", None),
))
FORGED_DATA = st.one_of(
    st.text(max_size=64).map(lambda s: s.encode()[:64].decode(errors="ignore")),
    st.builds(lambda p, n: f"{p}:{n}", st.sampled_from(["menu", "lang", "import", "rv", "stf", "ann", "obj", "kp", "inv",
                                                        "stamped", "\x00", "0"]),
              st.one_of(st.integers(-5, 10 ** 12).map(str), st.text(max_size=12))),
)

# The commands that open a conversation (forms, staff screens, codes, the 公示): one of them starts
# most examples, so the random steps after it land inside a conversation more often than not.
# Mostly the person's own (a stranger declares, a contact files, staff review), sometimes any.
PUBLIC = ("announcements", "objection", "lang", "help", "status", "menu", "start")
CONVERSATIONS = {
    STRANGER: ("declare", "join", "stamped", *PUBLIC),
    CONTACT_A: ("project", "filing", "extension", "deregister", "stamped", "invite", "leave", *PUBLIC),
    CONTACT_B: ("project", "filing", "extension", "deregister", "invite", "leave", "join", *PUBLIC),
    STAFF_ID: ("pending", "review", "import", "kpwindow", "bind", "contacts", "staff", "stations", "announce",
               "objections", "holidays", "supervision", "digest", "export", "review SZJS-2026-0003",
               "review SZXM-2026-0001", *PUBLIC),
}
OPENING = st.sampled_from(PEOPLE).flatmap(lambda person: st.tuples(
    st.just("command"), st.just(person),
    st.one_of(st.sampled_from(CONVERSATIONS[person]), st.sampled_from(sorted(set(STAFF_COMMANDS)))).map(lambda c: f"/{c}"),
))
# Most updates come from whoever opened the example's conversation (None: that person).
PERSON = st.sampled_from((None, None, None, None, None, *PEOPLE))
BY_KIND = {
    "open": OPENING,
    "text": st.tuples(st.just("text"), PERSON, TEXTS),
    "command": st.tuples(st.just("command"), PERSON, COMMANDS),
    "press": st.tuples(st.just("press"), PERSON, st.integers(0, 30)),
    "stale": st.tuples(st.just("stale"), PERSON, st.integers(0, 10 ** 6)),
    "forged": st.tuples(st.just("forged"), PERSON, st.tuples(st.integers(0, 10 ** 6), FORGED_DATA)),
    "mutated": st.tuples(st.just("mutated"), PERSON, st.tuples(st.integers(0, 10 ** 6), st.integers(-3, 10 ** 9))),
    "sticker": st.tuples(st.just("sticker"), PERSON, st.just(None)),
    "photo": st.tuples(st.just("photo"), PERSON, st.sampled_from([1000, 25 * MB])),
    "document": st.tuples(st.just("document"), PERSON, DOCUMENTS),
    "edited": st.tuples(st.just("edited"), PERSON, TEXTS),
    "group": st.tuples(st.just("group"), PERSON, st.tuples(st.sampled_from(["group", "supergroup"]), st.one_of(TEXTS, COMMANDS))),
    "channel": st.tuples(st.just("channel"), st.just(0), st.one_of(TEXTS, COMMANDS)),
    "block": st.tuples(st.just("block"), PERSON, st.booleans()),
}
# How often each kind of update comes, relatively: mostly answers and button presses inside the
# conversation the example opened, the rest of everything.
WEIGHTS = {"open": 2, "text": 4, "command": 2, "press": 6, "stale": 1, "forged": 1, "mutated": 1, "sticker": 1,
           "photo": 1, "document": 1, "edited": 1, "group": 1, "channel": 1, "block": 1}
ACTIONS = st.sampled_from([kind for kind, n in WEIGHTS.items() for _ in range(n)]).flatmap(BY_KIND.__getitem__)
EXAMPLES = st.builds(lambda opening, rest: [opening, *rest], OPENING,
                     st.lists(ACTIONS, min_size=STEPS // 2, max_size=STEPS - 1))


# -- what the bot may say -------------------------------------------------------------------------


def _openings() -> list[re.Pattern[str]]:
    """Every locale text's first line as a pattern (its placeholders match anything), for texts
    whose first line has at least two characters of their own."""
    patterns = []
    for lang in LANGUAGES:
        for text in catalog(lang).values():
            first = text.split("\n", 1)[0]
            literal = re.split(r"\{[^{}]*\}", first)
            if max(len(part.strip()) for part in literal) < 2:
                continue
            pattern = ".*?".join(re.escape(part) for part in literal)
            patterns.append(re.compile(pattern, re.DOTALL))
    return patterns


OPENINGS = _openings()
APOLOGIES = {t(lang, "error.generic") for lang in LANGUAGES}
# What a form says to a non-text message, before asking the same question again.
EXPECTED_HERE = {t(lang, key) for lang in LANGUAGES for key in ("invalid.form.text_expected", "invalid.file.expected", "invalid.form.use_buttons",
                                                                 "invalid.file.unexpected")}


PROGRESS = re.compile(r"· (第\d+/\d+题|Question \d+/\d+)$")  # a form's question (form.progress)
WARNING = "⚠️ "  # what a refused answer begins with (bot.forms.engine.error_text)
# The one thing the bot says in a group: to a command, "write to me privately".
IN_GROUPS = {t(lang, "private_only.use_private_chat") for lang in LANGUAGES}


def speaks_the_locale(text: str) -> bool:
    text = text.removeprefix(WARNING)
    return any(p.match(text) for p in OPENINGS)


def said(call: TelegramMethod[Any]) -> str | None:
    """The text a call puts before the person: a message, an edit, a caption, a callback alert."""
    if isinstance(call, SendMessage | EditMessageText):
        return call.text
    if isinstance(call, SendDocument):
        return call.caption or ""
    if isinstance(call, AnswerCallbackQuery):
        return call.text
    return None


def chat_of(call: TelegramMethod[Any]) -> int | None:
    chat_id = getattr(call, "chat_id", None)
    return int(chat_id) if chat_id is not None else None


# -- one example ----------------------------------------------------------------------------------


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def error_records() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@dataclass
class Run:
    chat: Chat
    users: dict[int, User]
    steps: int = 0
    queries: int = 0
    question: dict[int, str | None] = field(default_factory=dict)

    @property
    def api(self) -> LocalBotApi:
        return self.chat.api

    def keyboards(self) -> list[Message]:
        return [m for _, m in sorted(self.api.messages.items(), key=lambda kv: kv[0][1])
                if isinstance(m.reply_markup, InlineKeyboardMarkup)]

    def private(self, user_id: int) -> TgChat:
        return TgChat(id=user_id, type="private", first_name=self.users[user_id].first_name)

    def message(self, user_id: int, **fields: Any) -> Any:
        return self.api.update(message=self.api.new_message(self.private(user_id), self.users[user_id], **fields))

    def press(self, user_id: int, message: Message, data: str) -> Any:
        self.queries += 1
        query = CallbackQuery(id=f"q{self.queries}", from_user=self.users[user_id],
                              chat_instance=str(message.chat.id), message=message, data=data)
        return self.api.update(callback_query=query)


def _all_buttons(message: Message) -> list[str]:
    markup = message.reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    return [b.callback_data for row in markup.inline_keyboard for b in row if b.callback_data]


def build_update(run: Run, action: tuple[Any, ...]) -> tuple[Any, int | None, str]:
    """The update for an action, the private chat it comes from (None: a group or channel, or
    nothing to press), and what it is ("text", "callback", "other")."""
    kind, user_id, arg = action
    api = run.api
    if kind in ("text", "command"):
        return run.message(user_id, text=arg), user_id, "text"
    if kind == "edited":
        original = api.new_message(run.private(user_id), run.users[user_id], text=arg)
        edited = original.model_copy(update={"edit_date": int(time.time())})
        return api.update(edited_message=edited), user_id, "text"
    if kind == "sticker":
        sticker = Sticker(file_id="sticker-1", file_unique_id="sticker-u1", type="regular", width=512, height=512,
                          is_animated=False, is_video=False, emoji="🙂")
        return run.message(user_id, sticker=sticker), user_id, "other"
    if kind == "photo":
        doc = api.add_file(b"\xff\xd8\xff fake jpeg", "photo.jpg", "image/jpeg", size=arg)
        photo = [PhotoSize(file_id=doc.file_id, file_unique_id=doc.file_unique_id, width=1280, height=960, file_size=arg)]
        return run.message(user_id, photo=photo), user_id, "file"
    if kind == "document":
        _, name, mime, size = arg
        document = api.add_file(b"%PDF-1.4 not really" if name.endswith(".pdf") else b"PK\x03\x04 garbage",
                                name or "file", mime or None, size=size)
        if not name:
            document = document.model_copy(update={"file_name": None, "mime_type": None})
        return run.message(user_id, document=document), user_id, "file"
    if kind == "press":
        own = [m for m in run.keyboards() if m.chat.id == user_id]
        if not own:
            return None, None, "nothing"
        latest = own[-1]
        data = _all_buttons(latest)
        return run.press(user_id, latest, data[arg % len(data)]), user_id, "callback"
    if kind in ("stale", "forged", "mutated"):
        boards = run.keyboards()
        own = [m for _, m in sorted(api.messages.items(), key=lambda kv: kv[0][1]) if m.chat.id == user_id]
        if not boards or not own:
            return None, None, "nothing"
        n, extra = (arg, None) if kind == "stale" else arg
        board = boards[n % len(boards)]
        data = _all_buttons(board)
        chosen = data[n % len(data)]
        if kind == "forged":
            chosen = extra
        elif kind == "mutated":
            chosen = re.sub(r"\d+", str(extra), chosen, count=1) if re.search(r"\d", chosen) else f"{chosen}:{extra}"
            chosen = chosen.encode()[:64].decode(errors="ignore")
        # A button is pressed under a message of the presser's own chat: the keyboard it was on
        # when that is theirs, else (data of someone else's keyboard, or forged) their latest message.
        message = board if board.chat.id == user_id else own[n % len(own)]
        return run.press(user_id, message, chosen), user_id, "callback"
    if kind == "group":
        chat_type, text = arg
        chat = TgChat(id=GROUP_ID, type=chat_type, title="技师交流群")
        return api.update(message=api.new_message(chat, run.users[user_id], text=text)), None, "group"
    if kind == "channel":
        chat = TgChat(id=CHANNEL_ID, type="channel", title="公告频道")
        return api.update(channel_post=api.new_message(chat, None, text=arg, sender_chat=chat)), None, "channel"
    raise AssertionError(kind)


def check_answer(run: Run, calls: list[TelegramMethod[Any]], user_id: int | None, what: str, action: Any) -> None:
    context = f"after {action!r}"
    for call in calls:
        chat = chat_of(call)
        if chat == GROUP_ID:
            command = isinstance(action[2], tuple) and str(action[2][1]).startswith("/")
            assert command and said(call) in IN_GROUPS, f"the bot spoke in a group {context}: {call!r}"
        assert chat != CHANNEL_ID, f"the bot spoke in a channel {context}: {call!r}"
        text = said(call)
        if text is None or isinstance(call, AnswerCallbackQuery) and not text:
            continue
        assert text.strip(), f"an empty text {context}: {call!r}"
        assert text not in APOLOGIES, f"the apology for a failure {context}"
        assert speaks_the_locale(text), f"a text that begins with none of the locales' {context}: {text[:200]!r}"
        assert not re.search(r"\{[a-z_]+\}", text), f"an unfilled placeholder {context}: {text[:200]!r}"
    if user_id is None or user_id in run.api.blocked:
        return
    to_them = [c for c in calls if chat_of(c) == user_id and said(c)]
    if what == "callback":
        assert any(isinstance(c, AnswerCallbackQuery) for c in calls), f"a button left spinning {context}"
        answered = any(isinstance(c, AnswerCallbackQuery) and c.text for c in calls)
        moved = any(isinstance(c, EditMessageReplyMarkup) for c in calls)
        assert to_them or answered or moved, f"a button press that said nothing {context}: {calls!r}"
        return
    assert to_them, f"no answer {context}: {calls!r}"
    question = run.question.get(user_id)
    if what == "other" and question is not None:
        # A sticker while a form's question is open: what is expected here, and the same question.
        reply = said(to_them[0]) or ""
        assert any(reply.startswith(WARNING + expected) for expected in EXPECTED_HERE), (
            f"not what the form expects {context}: {reply[:200]!r}")
        assert question in reply, f"the question was not asked again {context}: {reply[:300]!r}"


def remember_question(run: Run, calls: list[TelegramMethod[Any]], user_id: int | None) -> None:
    """The form question the person has before them (None: their last message from the bot is none)."""
    if user_id is None:
        return
    for call in calls:
        text = said(call) if isinstance(call, SendMessage | EditMessageText) and chat_of(call) == user_id else None
        if text:
            lines = text.split("\n")
            at = next((i for i, line in enumerate(lines) if PROGRESS.search(line)), None)
            run.question[user_id] = "\n".join(lines[at + 1:]).strip() or None if at is not None else None


async def run_example(actions: list[tuple[Any, ...]], database_url: str, redis_url: str | None) -> None:
    overrides: dict[str, Any] = {"throttle_rate": "1000/second", "throttle_burst": 1000}
    if redis_url:
        overrides["redis_url"] = redis_url
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        try:
            if not await _seeded():
                station_a = await recognised_station(CONTACT_A, name="甲精密模具技师工作站", uscc="91440300MA5F000093",
                                         with_declaration=True)
                await recognised_station(CONTACT_B, name="乙数控技师工作站", uscc="91440300MA5F0001X2",
                                         with_declaration=True)
                await _waiting_for_staff(station_a)
            assert await broken_invariants() == []
            chat = Chat(make_settings(database_url, **overrides))
            users = {uid: Chat.as_user(uid, "en" if uid == CONTACT_B else "zh-hans", first_name=f"用户{uid % 100}")
                     for uid in PEOPLE}
            run = Run(chat, users)
            opener = actions[0][1]
            actions = [(kind, opener if person is None else person, arg) for kind, person, arg in actions]
            with error_records() as errors:
                for action in actions:
                    note(f"action: {action!r}")
                    if action[0] == "block":
                        _, user_id, on = action
                        (run.api.blocked.add if on else run.api.blocked.discard)(user_id)
                        continue
                    update, user_id, what = build_update(run, action)
                    if update is None:
                        continue
                    event(f"update: {action[0]}")
                    start = len(run.api.calls)
                    await chat.dp.feed_update(chat.bot, update)
                    run.steps += 1
                    assert not errors.records, f"ERROR logged after {action!r}: " + "; ".join(
                        r.getMessage()[:300] for r in errors.records)
                    check_answer(run, run.api.calls[start:], user_id, what, action)
                    remember_question(run, run.api.calls[start:], user_id)
                broken = await broken_invariants()
                assert broken == [], broken
                event(f"submissions beyond the seed: {min(await Submission.all().count() - 4, 3)}+")
            await chat.dp.storage.close()
            await chat.bot.session.close()
        finally:
            await Tortoise.close_connections()


APPLICANT = 5550904  # declared a station; not among the people who write here


async def _waiting_for_staff(station: Station) -> None:
    """What staff have in their queues: a declaration and station A's key project, submitted."""
    declaration = await start_draft(APPLICANT, SubmissionKind.ESTABLISHMENT)
    answers = {"unit_name": "丙电子有限公司", "uscc": "91440300MA5F0002X3", "unit_type": "enterprise", "mode": "self",
               "station_name": "丙电子技师工作站"}
    done = await submit(declaration.id, APPLICANT, answers, uniqueness_key=f"establishment:{answers['uscc']}",
                        reference_year=NOW.year, now=NOW)
    project = await start_draft(CONTACT_A, SubmissionKind.KEY_PROJECT)
    done_too = await submit(project.id, CONTACT_A, {"project_name": "五轴加工工艺攻关"},
                            uniqueness_key=f"key_project:{station.id}:{NOW.year}", reference_year=NOW.year, now=NOW,
                            reference_prefix="SZXM",
                            station_id=station.id, year=NOW.year)
    assert done.reference and done_too.reference, (done, done_too)


async def _seeded() -> bool:
    return await Station.exists()


# Tried first, every run: the hardest inputs inside a form that is really open.
INSIDE_A_FORM = (
    [("command", STRANGER, "/declare"), ("text", None, "a\x00b"), ("text", None, "字" * 5000), ("sticker", None, None),
     ("document", None, ("too_big", "scan.pdf", "application/pdf", 25 * MB)), ("photo", None, 25 * MB),
     ("edited", None, "<b>改</b>"), ("press", None, 0), ("text", None, "\u202eمرحبا"), ("press", None, 1)],
    [("command", CONTACT_B, "/deregister"), ("text", None, "\x00"), ("text", None, "👨‍👩‍👧‍👦" * 1200), ("block", None, True),
     ("text", None, "x"), ("block", None, False), ("press", None, 2), ("command", None, "/cancel"), ("stale", None, 0)],
    [("command", STAFF_ID, "/pending"), ("press", None, 0), ("press", None, 0), ("text", None, "\x00<b>"),
     ("mutated", CONTACT_B, (0, 999999)), ("press", None, 3), ("command", STAFF_ID, "/import"),
     ("document", None, ("xlsx_garbage", "register.xlsx", "application/octet-stream", None))],
)

FUZZ_SETTINGS = dict(
    deadline=None,
    derandomize=IN_CI,
    print_blob=True,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),  # no "explain": minutes of reruns for a hint  # nothing written into the tree; a failure prints how to reproduce it
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@settings(max_examples=SQLITE_EXAMPLES, **FUZZ_SETTINGS)
@given(actions=EXAMPLES)
@example(actions=INSIDE_A_FORM[0])
@example(actions=INSIDE_A_FORM[1])
@example(actions=INSIDE_A_FORM[2])
async def test_random_updates_on_sqlite(actions: list[tuple[Any, ...]], sqlite_template: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.sqlite3"
        shutil.copy(sqlite_template, path)
        await run_example(actions, f"sqlite://{path}", None)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@settings(max_examples=POSTGRES_EXAMPLES, **FUZZ_SETTINGS)
@given(actions=EXAMPLES)
@example(actions=INSIDE_A_FORM[0])
@example(actions=INSIDE_A_FORM[1])
@example(actions=INSIDE_A_FORM[2])
async def test_random_updates_on_postgres_with_redis_state(actions: list[tuple[Any, ...]], database_url: str,
                                                            redis_url: str) -> None:
    # One database and one Redis for all the examples: each goes on from the state the ones before
    # left (drafts, dialogs, conversations), as a bot restarted with its storage does.
    await run_example(actions, database_url, redis_url)
