"""The demo city (`python -m bot seed-demo`, `make demo`): seeded into a fresh database, a staff
member finds every review queue full on /pending, a digest with something in every section, and an
/export whose sheets all have rows; the fake numbers pass the chat's validators; a second seeding
is refused and changes nothing."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.console import CONSOLE_USER_ID
from bot.crypto import vault_for
from bot.i18n import t
from bot.rules.identifiers import parse_resident_id, parse_uscc
from bot.services import review
from bot.services.demo import DEMO_STAFF_ID, AlreadySeeded, seed_demo
from bot.services.digest import build_digest, render_text
from chat_harness import NOW, STAFF_ID, Chat, make_settings
from conftest import both_databases
from storage.models import (
    Announcement,
    AnnouncementState,
    Document,
    FilingObligation,
    FilingState,
    Funding,
    Objection,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
)

ROOT = Path(__file__).resolve().parents[2]
OTHER_SUBMISSIONS = "其他申请"  # kinds without a form: every kind has one now, so it stays empty


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def counts() -> dict[str, int]:
    return {model.__name__: await model.all().count()
            for model in (Station, Unit, Submission, FilingObligation, Funding, Announcement, Objection, StatusTransition, Document)}


@both_databases
async def test_the_demo_city_fills_every_queue_digest_section_and_sheet(chat: Chat) -> None:
    made = await seed_demo(NOW, chat.settings)
    assert 40 <= made.stations <= 45 and made.pending.keys() >= {"declaration", "key_project", "extension", "deregistration"}
    assert DEMO_STAFF_ID == CONSOLE_USER_ID  # `make demo` makes the terminal chat's own user staff

    staff = chat.as_user(STAFF_ID)
    calls = await chat.send("/export", user=staff)
    assert chat.documents(calls), chat.texts(calls)
    [sent] = chat.documents(calls)
    book = load_workbook(io.BytesIO(sent.document.data))
    for sheet in book.worksheets:
        if sheet.title != OTHER_SUBMISSIONS:
            assert sheet.max_row > 1, sheet.title

    overview = chat.texts(await chat.send("/pending", user=staff))[-1]
    for kind, status in review.review_queues():  # a queue is listed only when something waits in it
        label = t("zh", "staff.queue.queue", kind=t("zh", f"submission_kind.{kind}"), status=t("zh", f"submission_status.{status}"))
        assert re.search(re.escape(label) + r"（[1-9]\d*）", overview), (label, overview)
    for extra in review.EXTRA_QUEUES:  # objections, revocation candidates
        assert re.search(re.escape(t("zh", extra.label_key)) + r"（[1-9]\d*）", overview), (extra.label_key, overview)

    # an item opens with its documents, the declaration's answers readable through the form
    item = "\n".join(chat.texts(await chat.send(f"/review {made.pending['declaration']}", user=staff)))
    assert "演示·" in item and "指导教师（3）" in item

    digest = await build_digest(chat.settings, NOW)
    assert digest.new_by_kind and digest.queues and digest.objections[0] and digest.announcements
    assert digest.filings and digest.candidates and digest.shortfalls and digest.unreachable
    assert {"overdue"} <= {r.standing for r in digest.filings}
    text = render_text(digest, "zh")
    assert "演示·" in text

    # what the city holds, as the rules see it
    assert {s.value for s in await Station.all().distinct().values_list("state", flat=True)} >= {
        "active", "applying", "overdue", "revocation_candidate", "revoked", "deregistration_requested", "deregistered"}
    filing_states = set(await FilingObligation.all().distinct().values_list("state", flat=True))
    assert {FilingState.FILED_ON_TIME, FilingState.FILED_LATE, FilingState.OVERDUE} <= filing_states
    assert await FilingObligation.filter(extended_due_on__isnull=False).exists()
    assert sorted(set(await Funding.all().values_list("level", flat=True))) == [1, 2, 3]
    assert await Station.filter(school_enterprise=True).count() >= 8
    assert (await Announcement.get()).state == AnnouncementState.OPEN
    assert await Submission.filter(kind=SubmissionKind.KEY_PROJECT, status=SubmissionStatus.OBJECTION).exists()
    for unit in await Unit.all():
        assert unit.name.startswith("演示·") and parse_uscc(unit.uscc) == unit.uscc, unit.uscc
    declaration = await Submission.get(reference=made.pending["declaration"])
    vault = vault_for(chat.settings)
    numbers = [vault.unseal(m["id_number"]) for m in declaration.answers["mentors"]] + [vault.unseal(declaration.answers["head_id_number"])]
    assert all(parse_resident_id(n, NOW.date()) == n for n in numbers), numbers
    assert await Document.filter(submission_id=declaration.id).count() >= 12
    extension = await Submission.get(reference=made.pending["extension"])
    assert set(extension.answers) >= {"grounds", "months", "explanation"}


async def test_seeding_twice_is_refused_and_changes_nothing(chat: Chat) -> None:
    await seed_demo(NOW, chat.settings)
    before = await counts()
    with pytest.raises(AlreadySeeded, match="already holds 42 stations"):
        await seed_demo(NOW, chat.settings)
    assert await counts() == before
    assert await Station.filter(state=StationState.DEREGISTRATION_REQUESTED).count() == 1


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_seeds_once_and_opens_the_terminal_chat_as_staff(tmp_path: Path) -> None:
    """`make demo` in a copy of the project (its .venv borrowed): the city seeded into
    data/demo.sqlite3, the terminal chat answering /pending as staff; the second time the city is
    left as it is."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").symlink_to(ROOT / "pyproject.toml")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    if not (ROOT / ".venv" / ".installed").exists():
        pytest.skip("the project's .venv was not made by `make install`")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STAFF_IDS", "BOT_TOKEN", "REDIS_URL", "DATA_KEY")}

    def demo() -> str:
        done = subprocess.run(["make", "--no-print-directory", "demo"], cwd=tmp_path, input="/pending\n",
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = demo()
    assert "Demo city seeded in sqlite://data/demo.sqlite3" in first and (tmp_path / "data" / "demo.sqlite3").exists()
    assert "设立申报 · 已提交（1）" in first and "待处理的公示异议（1）" in first
    again = demo()
    assert "already holds 42 stations; left as it is." in again and "设立申报 · 已提交（1）" in again
