"""/stations: staff find a station by name or USCC and open its card.

`/stations <name or code>` searches (part of the station's or the unit's name, or part of the
USCC); one match opens its card at once, several are listed as buttons; `/stations` alone lists
the stations. The card shows what the tables hold, no personal numbers (mentors' ID numbers
masked, contacts by Telegram user id and role).
"""

from __future__ import annotations

from html import escape
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.i18n import has_text, t, transition_reason
from bot.services import stations as service
from bot.settings import Settings

COMMAND = "stations"
MESSAGE_LIMIT = 4000


class StationCard(CallbackData, prefix="staff_station"):
    station_id: int


def _day(value: object) -> str:
    return value.isoformat() if value is not None else ""  # type: ignore[attr-defined]


def _money(value: object) -> str:
    return f"{value:,.2f}" if value is not None else ""


STATE_TEXTS = {"submission": "submission_status", "station": "station_state", "filing": "staff.export.filing_state"}


def _state(lang: str, subject_type: str, value: str | None) -> str:
    if not value:
        return "—"
    key = f"{STATE_TEXTS.get(subject_type, '')}.{value}"
    return t(lang, key) if has_text(key) else value


def render_card(lang: str, found: service.Card, tz: ZoneInfo) -> str:
    s, u = found.station, found.station.unit
    none = t(lang, "staff.stations.none")
    lines = [
        t(lang, "staff.stations.card_title", name=escape(s.name), id=s.id),
        t(lang, "staff.stations.unit", unit=escape(u.name), uscc=u.uscc, unit_type=t(lang, f"unit_type.{u.unit_type.value}")),
        t(lang, "staff.stations.state", state=t(lang, f"station_state.{s.state.value}"), mode=t(lang, f"mode.{s.mode.value}")),
    ]
    if s.partner_name:
        lines.append(t(lang, "staff.stations.partner", partner=escape(s.partner_name),
                       school=t(lang, "staff.stations.yes" if s.school_enterprise else "staff.stations.no")))
    if s.recognised_on:
        lines.append(t(lang, "staff.stations.recognised", day=_day(s.recognised_on)))

    lines += ["", t(lang, "staff.stations.contacts")]
    lines += [t(lang, "staff.stations.contact_line", user_id=c.user_id, role=t(lang, f"staff.stations.role.{c.role}"),
                inactive="" if c.active else t(lang, "staff.stations.inactive")) for c in found.contacts] or [none]

    lines += ["", t(lang, "staff.stations.mentors", label=found.mentor_label or t(lang, "staff.stations.mentors_default"))]
    lines += [f"{n}. " + escape(" · ".join(m)) for n, m in enumerate(found.mentors, start=1)] or [none]

    lines += ["", t(lang, "staff.stations.submissions")]
    lines += [
        t(lang, "staff.stations.submission_line", kind=t(lang, f"submission_kind.{x.kind}"), reference=x.reference or "—",
          year=x.year or "", status=t(lang, f"submission_status.{x.status}"),
          submitted=x.submitted_at.astimezone(tz).strftime("%Y-%m-%d") if x.submitted_at else "")
        for x in found.submissions
    ] or [none]

    lines += ["", t(lang, "staff.stations.announcements")]
    lines += [
        t(lang, "staff.stations.announcement_line", reference=a.reference or "—", starts=_day(a.starts_on), ends=_day(a.ends_on),
          state=t(lang, f"staff.export.announcement_state.{a.state}"), objections=a.objections)
        for a in found.announcements
    ] or [none]

    lines += ["", t(lang, "staff.stations.filings")]
    lines += [
        t(lang, "staff.stations.filing_line", year=f.year, due=_day(f.extended_due_on or f.due_on),
          state=t(lang, f"staff.export.filing_state.{f.state}"), reference=f.reference or "—")
        for f in found.filings
    ] or [none]

    lines += ["", t(lang, "staff.stations.key_projects")]
    lines += [
        t(lang, "staff.stations.key_project_line", reference=k.reference or "—", year=k.year or "",
          status=t(lang, f"submission_status.{k.status}"), level=k.level or "—")
        for k in found.key_projects
    ] or [none]

    lines += ["", t(lang, "staff.stations.fundings")]
    lines += [
        t(lang, "staff.stations.funding_line", reference=f.reference or "—", level=f.level, amount=_money(f.amount),
          paid=_day(f.paid_on) or "—")
        + (t(lang, "staff.stations.recovery", amount=_money(f.recovery_amount)) if f.recovery_required else "")
        for f in found.fundings
    ] or [none]

    lines += ["", t(lang, "staff.stations.history", shown=len(found.history), total=found.history_total)]
    lines += [
        t(lang, "staff.stations.history_line", at=h.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
          subject=t(lang, f"staff.stations.subject.{h.subject_type}", name=h.subject),
          change=f"{_state(lang, h.subject_type, h.from_status)} → {_state(lang, h.subject_type, h.to_status)}",
          reason=f"（{escape(transition_reason(lang, h.reason))}）" if h.reason else "")
        for h in found.history
    ] or [none]
    text = "\n".join(lines)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


async def show_card(message: Message, lang: str, settings: Settings, station_id: int) -> None:
    found = await service.card(station_id, settings, lang)
    if found is None:
        await message.answer(t(lang, "staff.stations.gone"))
        return
    await message.answer(render_card(lang, found, settings.tz))


async def on_command(message: Message, command: CommandObject, lang: str, settings: Settings) -> None:
    term = (command.args or "").strip()
    found, more = await service.search(term)
    if not found:
        await message.answer(t(lang, "staff.stations.not_found", term=escape(term)) if term else t(lang, "staff.stations.empty"))
        return
    if len(found) == 1 and term:
        await show_card(message, lang, settings, found[0].id)
        return
    head = t(lang, "staff.stations.found", n=len(found), term=escape(term)) if term else t(lang, "staff.stations.all", n=len(found))
    lines = [head]
    lines += [t(lang, "staff.stations.found_line", name=escape(f.name), unit=escape(f.unit_name), uscc=f.uscc,
                state=t(lang, f"station_state.{f.state}")) for f in found]
    if more:
        lines.append(t(lang, "staff.stations.more", n=service.SEARCH_LIMIT))
    lines.append(t(lang, "staff.stations.usage"))
    buttons = [[InlineKeyboardButton(text=f.name[:60], callback_data=StationCard(station_id=f.id).pack())] for f in found]
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))


async def on_button(query: CallbackQuery, callback_data: StationCard, lang: str, settings: Settings) -> None:
    await query.answer()
    await show_card(query.message, lang, settings, callback_data.station_id)


def build_router() -> Router:
    router = Router(name="staff-stations")
    router.message.register(on_command, Command(COMMAND))
    router.callback_query.register(on_button, StationCard.filter())
    return router
