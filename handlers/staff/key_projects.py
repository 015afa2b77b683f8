"""Key projects on the bureau's side (R7–R9): /kpwindow opens and closes a year's application
window, and an application's item (/review) offers its grade (一级 / 二级 / 三级; 未入选 is the
review's own act) and, once funded, the record that the money was paid.

Every button carries the item and the state it was shown in (`staff_kp`), so a replayed or stale
button is answered "already handled"; a grade past R8's caps is refused by the database and the
counts are shown.

```mermaid
stateDiagram-v2
    [*] --> confirm_window: /kpwindow open|close
    confirm_window --> [*]: confirmed (contacts of eligible stations told) / cancelled
    [*] --> item: /review (under review or funded)
    item --> confirm: a level / paid
    confirm --> item: done, or refused (cap reached with the counts, stale)
```
"""

from __future__ import annotations

from datetime import date

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message

from bot.clock import Clock, local_today
from bot.i18n import t
from bot.rules.decisions import funding_for
from bot.services import key_projects as service
from bot.services.review import ItemView
from bot.settings import Settings
from handlers.staff import queue
from handlers.staff.confirm import confirm_keyboard
from storage.key_projects import grade_counts
from storage.models import KeyProjectWindow, Submission

WINDOW_COMMAND = "kpwindow"
COMMANDS = (WINDOW_COMMAND,)


class KeyProjectAct(CallbackData, prefix="staff_kp"):
    id: int
    op: str  # g: grade at `level`; pay: funding paid
    level: int
    state: str  # the state the item was shown in
    step: str  # a: ask, y: confirm, n: cancel


class WindowAct(CallbackData, prefix="staff_kpw"):
    op: str  # open | close
    year: int
    opens: str  # YYYYMMDD
    closes: str
    step: str  # y: confirm, n: cancel


def level_name(lang: str, level: int) -> str:
    return t(lang, f"staff.kp.level.{level}")


def _amount(value: object) -> str:
    return f"{value:,.0f}"


def item_buttons(lang: str, view: ItemView) -> list[tuple[str, CallbackData]]:
    """The grade buttons of an application under review; the paid button of a funded one."""
    if view.kind != "key_project":
        return []
    if view.status == "under_review":
        return [
            (t(lang, "staff.kp.grade_button", level=level_name(lang, level), amount=_amount(funding_for(level))),
             KeyProjectAct(id=view.id, op="g", level=level, state=view.status, step="a"))
            for level in (1, 2, 3)
        ]
    if view.status == "funded":
        return [(t(lang, "staff.kp.pay_button"), KeyProjectAct(id=view.id, op="pay", level=0, state=view.status, step="a"))]
    return []


def _counts_text(lang: str, counts: dict[int, int]) -> str:
    return t(lang, "staff.kp.counts", l1=counts.get(1, 0), l2=counts.get(2, 0), l3=counts.get(3, 0),
             total=sum(counts.values()), per_level=service.PER_LEVEL, per_year=service.MAX_PER_YEAR)


async def _cancelled(query: CallbackQuery, lang: str, bot: Bot) -> None:
    await query.answer(t(lang, "staff.review.cancelled"))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(query.from_user.id, t(lang, "staff.review.cancelled"))


async def on_key_project(query: CallbackQuery, callback_data: KeyProjectAct, lang: str, bot: Bot, clock: Clock,
                         settings: Settings) -> None:
    chat_id = query.from_user.id
    if callback_data.step == "n":
        await _cancelled(query, lang, bot)
        return
    await query.answer()
    row = await Submission.filter(id=callback_data.id, kind="key_project").values("reference", "status", "year", "level")
    if not row:
        await bot.send_message(chat_id, t(lang, "staff.review.not_found"))
        return
    reference = row[0]["reference"] or f"#{callback_data.id}"
    if callback_data.step == "a":
        if str(row[0]["status"]) != callback_data.state:
            await bot.send_message(chat_id, t(lang, "staff.review.refused.stale", reference=reference,
                                              status=t(lang, f"submission_status.{row[0]['status']}")))
            return
        if callback_data.op == "g":
            counts = await grade_counts(row[0]["year"])
            text = t(lang, "staff.kp.grade_confirm", reference=reference, level=level_name(lang, callback_data.level),
                     amount=_amount(funding_for(callback_data.level)), year=row[0]["year"]) + "\n" + _counts_text(lang, counts)
        else:
            level = row[0]["level"]
            text = t(lang, "staff.kp.pay_confirm", reference=reference, level=level_name(lang, level),
                     amount=_amount(funding_for(level)), on=local_today(clock, settings.tz).isoformat())
        await bot.send_message(chat_id, text + "\n" + t(lang, "staff.review.irreversible"),
                               reply_markup=confirm_keyboard(lang, callback_data))
        return
    # step "y": the act itself
    if callback_data.op == "g":
        outcome = await service.grade(callback_data.id, callback_data.level, staff_id=chat_id,
                                      expected_state=callback_data.state, now=clock.now())
        if outcome.ok:
            message = t(lang, "staff.kp.graded", reference=reference, level=level_name(lang, callback_data.level),
                        amount=_amount(funding_for(callback_data.level)), n=outcome.notified)
            message += "\n" + _counts_text(lang, outcome.counts)
        elif outcome.code == "cap_reached":
            message = t(lang, "staff.kp.cap_reached", reference=reference, year=outcome.year,
                        level=level_name(lang, callback_data.level)) + "\n" + _counts_text(lang, outcome.counts)
        else:
            status = t(lang, f"submission_status.{outcome.status}") if outcome.status else "—"
            message = t(lang, "staff.review.refused.stale", reference=reference, status=status)
        ok = outcome.ok
    else:
        paid = await service.record_payment(callback_data.id, staff_id=chat_id, today=local_today(clock, settings.tz),
                                            now=clock.now())
        ok = paid.ok
        if paid.ok:
            message = t(lang, "staff.kp.paid", reference=reference, level=level_name(lang, paid.level),
                        amount=_amount(paid.amount), on=paid.paid_on.isoformat(), n=paid.notified)
        elif paid.code == "already_paid":
            message = t(lang, "staff.kp.already_paid", reference=reference, amount=_amount(paid.amount),
                        on=paid.paid_on.isoformat() if paid.paid_on else "—")
        else:
            status = t(lang, f"submission_status.{paid.status}") if paid.status else "—"
            message = t(lang, "staff.kp.not_funded", reference=reference, status=status)
    if ok and isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(chat_id, message)
    if ok:
        await queue.send_item(bot, chat_id, callback_data.id, lang, clock, settings)


# -- the application window -----------------------------------------------------------------------


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _compact(day: date) -> str:
    return day.strftime("%Y%m%d")


def _from_compact(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


async def _windows_text(lang: str) -> str:
    lines = [t(lang, "staff.kp.windows_title")]
    for window in await KeyProjectWindow.all().order_by("-year").limit(5):
        key = "staff.kp.window_line_closed" if window.closed_at else "staff.kp.window_line_open"
        lines.append(t(lang, key, year=window.year, opens=window.opens_on.isoformat(), closes=window.closes_on.isoformat()))
    if len(lines) == 1:
        lines.append(t(lang, "staff.kp.no_windows"))
    lines += ["", t(lang, "staff.kp.window_usage")]
    return "\n".join(lines)


async def window_command(message: Message, command: CommandObject, lang: str) -> None:
    words = (command.args or "").split()
    op = words[0].lower() if words else ""
    if op == "open" and len(words) == 4 and words[1].isdigit():
        year, opens, closes = int(words[1]), _date(words[2]), _date(words[3])
        if opens is None or closes is None or closes < opens:
            await message.answer(t(lang, "staff.kp.window_refused.bad_dates"))
            return
        data = WindowAct(op="open", year=year, opens=_compact(opens), closes=_compact(closes), step="y")
        text = t(lang, "staff.kp.window_confirm_open", year=year, opens=opens.isoformat(), closes=closes.isoformat())
    elif op == "close" and len(words) == 2 and words[1].isdigit():
        year = int(words[1])
        data = WindowAct(op="close", year=year, opens="", closes="", step="y")
        text = t(lang, "staff.kp.window_confirm_close", year=year)
    else:
        await message.answer(await _windows_text(lang))
        return
    await message.answer(text, reply_markup=confirm_keyboard(lang, data))


async def on_window(query: CallbackQuery, callback_data: WindowAct, lang: str, bot: Bot, clock: Clock) -> None:
    if callback_data.step == "n":
        await _cancelled(query, lang, bot)
        return
    await query.answer()
    if callback_data.op == "open":
        outcome = await service.open_window(callback_data.year, _from_compact(callback_data.opens),
                                            _from_compact(callback_data.closes), staff_id=query.from_user.id, now=clock.now())
    else:
        outcome = await service.close_window(callback_data.year, staff_id=query.from_user.id, now=clock.now())
    if outcome.ok:
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        key = "staff.kp.window_opened" if callback_data.op == "open" else "staff.kp.window_closed"
        text = t(lang, key, year=outcome.year, opens=outcome.opens_on.isoformat(), closes=outcome.closes_on.isoformat(),
                 n=outcome.notified)
    else:
        text = t(lang, f"staff.kp.window_refused.{outcome.code}", year=outcome.year)
    await bot.send_message(query.from_user.id, text)


def build_router() -> Router:
    if item_buttons not in queue.ITEM_BUTTONS:
        queue.ITEM_BUTTONS.append(item_buttons)
    router = Router(name="staff-key-projects")
    router.message.register(window_command, Command(WINDOW_COMMAND))
    router.callback_query.register(on_key_project, KeyProjectAct.filter())
    router.callback_query.register(on_window, WindowAct.filter())
    return router
