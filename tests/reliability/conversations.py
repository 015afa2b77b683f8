"""Every conversation a person can have, typed through the in-process chat with known personal
numbers (valid resident ID numbers, mainland mobiles), and what came out of it: the messages, the
files, the log records. The personal-data scan and the key rotation tests both walk it.

Contacts: /declare (the head's and three mentors' ID numbers, two mobiles) and /stamped, /project,
/deregister, /invite and /join, /filing, /extension, /objection on the 公示. Staff: /review with
"显示完整", accept and pass, /announce, /contacts, /import of a register carrying ID numbers and
mobiles, /export and (admin) /export full, /digest, and the daily and weekly digests the outbox sends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from bot.clock import FixedClock
from bot.rules.lifecycle import Actor
from bot.services import digest
from bot.services.key_projects import open_window
from bot.settings import Settings
from chat_harness import NOW, STAFF_ID, Chat
import factories
from factories import recognised_station
from scheduler.sender import OutboxSender
from storage.models import AnnouncementItem, FilingObligation
from storage.transitions import apply_transition

ADMIN_ID = 5559100
PROJECT_CONTACT = 5550010
LEAVING_CONTACT = 5550020
JOINING_COLLEAGUE = 5550030
FILING_CONTACT = 5550040
EXTENSION_CONTACT = 5550050
OBJECTOR = 7301


def resident_id(body: str) -> str:
    """A valid GB 11643 number: the 17 digits and their check digit."""
    return body + stdnum_ric.calc_check_digit(body + "0")


def uscc(body: str) -> str:
    return body + stdnum_uscc.calc_check_digit(body)


# Each typed once somewhere below; none ends in X, so the clear form has one spelling.
HEAD_ID = resident_id("44030119800101141")
MENTOR_IDS = (resident_id("44030119750102123"), resident_id("44030519780203221"), resident_id("44030419820304332"))
HEAD_MOBILE = "13800138000"
CONTACT_MOBILE = "13900139000"
IMPORTED_MENTOR_ID = resident_id("44030619790405441")
IMPORTED_MOBILE = "13712345678"
RESIDENT_IDS = (HEAD_ID, *MENTOR_IDS, IMPORTED_MENTOR_ID)
MOBILES = (HEAD_MOBILE, CONTACT_MOBILE, IMPORTED_MOBILE)
TYPED = (*RESIDENT_IDS, *MOBILES)
# Typed into free text (an objection), which is kept as typed: not sealed, so not one of TYPED; the
# masked export and the digests still must not show it.
OBJECTOR_MOBILE = "15811112222"
OBJECTOR_MOBILE_TYPED = "158-1111-2222"
MASKED_FORMS = ("138****8000", "139****9000")  # how the chat shows the two mobiles
assert all(not n.endswith("X") for n in RESIDENT_IDS)

DECLARED_USCC = uscc("91440300MA5F00001")
IMPORTED_USCC = uscc("91440300MA5F0DM90")
# Files whose name says they carry personal numbers in full: the admin's full export, and the
# printed forms sent only to the unit's own contacts and to staff.
FULL_MARKS = ("含个人信息", "含完整证件号码")

FILING_DAY = datetime(2027, 1, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shenzhen; the 2026 filing is open
DIGEST_MONDAY = datetime(2027, 1, 25, 1, 0, tzinfo=UTC)  # a Monday, 09:00: daily and weekly digests


@dataclass
class Outputs:
    """What the conversations put out besides the stores: every file sent (name, bytes), and the
    texts the outbox sent (the staff digests and every other notice) with the digest /digest shows."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    outbox_texts: list[str] = field(default_factory=list)
    outbox_files: list[tuple[str, bytes]] = field(default_factory=list)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def every_log_record() -> Iterator[Records]:
    """Every record of every logger at DEBUG (aiogram's, the ORM's, the drivers', ours), formatted
    with its arguments and any traceback."""
    handler = Records()
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict)]
    saved = [(lg, lg.level, lg.disabled) for lg in (root, *loggers)]
    for lg in (root, *loggers):
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    # Only this handler while it records: pytest's own capture of every DEBUG record would triple the time.
    others = root.handlers[:]
    root.handlers[:] = [handler]
    detached = [lg for lg in loggers if not lg.propagate]
    for lg in detached:
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        root.handlers[:] = others
        for lg in detached:
            lg.removeHandler(handler)
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled


async def say(chat: Chat, *inputs: str, user: Any = None) -> list[str]:
    """Type or press (a leading "@") each input in turn; everything the bot said."""
    texts: list[str] = []
    for item in inputs:
        calls = await (chat.press(item[1:], user=user) if item.startswith("@") else chat.send(item, user=user))
        texts += chat.texts(calls)
    return texts


def register_workbook() -> bytes:
    rows: dict[str, list[list[object]]] = {
        "工作站": [["示例导入精密有限公司", IMPORTED_USCC, "企业", "自行申请设立", None, "否", "示例导入技师工作站",
                  date(2019, 6, 1), "赵站长", "正常"]],
        "联系人": [[IMPORTED_USCC, "钱联络", IMPORTED_MOBILE, None]],
        "指导教师": [[IMPORTED_USCC, "孙导师", IMPORTED_MENTOR_ID, "高级技师", "S000000000009", "本单位", None, None]],
    }
    return factories.register_workbook(rows)


Checkpoint = Callable[[str], Awaitable[None]]


async def declare(chat: Chat, checkpoint: Checkpoint) -> None:
    await say(
        chat, "/declare", "深圳精密制造有限公司", DECLARED_USCC, "@企业", "王大明", "深圳市南山区科技园1号",
        "精密模具制造", "350", "@合作共建", "深圳技师学院", "@是",
        "精密模具技师工作站", "李工", HEAD_ID, "+86 138-0013-8000", "总工程师",
        "陈联络", "139 0013 9000", "@跳过",
    )
    for n, id_number in enumerate(MENTOR_IDS, 1):
        steps = ["@添加指导教师", f"导师{n}", id_number, "模具工", "@高级技师" if n == 3 else "@技师",
                 "@职业资格证书", f"Z{n:05d}", "@技工院校"]
        steps += ["@外聘", "2026-03-01", "2028-02-29"] if n == 3 else ["@本单位"]
        await say(chat, *steps)
    await say(chat, "@名单完成")
    await say(
        chat, "@是", "管理制度健全，连续五年盈利", "@是", "拥有五轴加工中心12台", "@是", "设有独立实训车间和技能津贴",
        "@是", "承担过市级技能大赛", "@是", "50万", "企业自筹专项经费",
        "@在此分六项填写", "两年培养20名高技能人才", "分三期实施建设", "先建章立制再带徒", "与技师学院联合培养",
        "场地800平方米专职5人", "实行站长负责制",
    )
    await chat.send_document(b"%PDF-1.4 licence", "licence.pdf")
    await chat.send_document(b"\xff\xd8 id", "head-id.jpg")
    for _ in range(9):
        await chat.send_document(b"%PDF mentor doc", "mentor.pdf")
    texts = await say(chat, "@材料齐全")
    assert "请核对设立申报内容" in texts[-1], texts[-1:]
    await checkpoint("the declaration's draft at its summary")
    texts = await say(chat, "@提交")
    assert any("设立申报已提交" in t for t in texts), texts
    await chat.send("/stamped")
    await chat.send_document(b"%PDF-1.4 scan", "盖章申报表.pdf")


async def staff_review_and_announce(chat: Chat) -> None:
    staff = chat.as_user(STAFF_ID)
    await chat.send("/review SZJS-2026-0001", user=staff)
    await chat.press("显示完整", user=staff)
    for button, note in (("受理", None), ("通过", "专家组一致认为具备设立条件")):
        await chat.press(button, user=staff)
        if note is not None:
            await chat.send(note, user=staff)
        texts = chat.texts(await chat.press("确认执行", user=staff))
        assert any("已对 SZJS-2026-0001 执行" in t for t in texts), texts
    await chat.send("/announce", user=staff)
    texts = chat.texts(await chat.press("发布公示", user=staff))
    assert texts[-1].startswith("✅ 已发布公示"), texts
    objector = chat.as_user(OBJECTOR, first_name="李四")
    item = await AnnouncementItem.all().order_by("-id").first()
    assert item is not None
    await chat.send("/objection", user=objector)
    await chat.press(f"{item.id}.", user=objector)
    await chat.send(f"该单位实训场地与申报不符。联系电话 {OBJECTOR_MOBILE_TYPED}", user=objector)
    texts = chat.texts(await chat.press("不附证明材料", user=objector))
    assert any("异议" in t for t in texts), texts


async def key_project(chat: Chat) -> None:
    await recognised_station(PROJECT_CONTACT, name="项目技师工作站", uscc=uscc("91440300MA5F00801"),
                             recognised_on=date(2023, 5, 1))
    assert (await open_window(2026, date(2026, 11, 20), date(2026, 12, 15), staff_id=STAFF_ID, now=NOW)).ok
    contact = chat.as_user(PROJECT_CONTACT)
    await say(chat, "/project", "@技术攻关", "精密模具寿命提升攻关",
              "两年内把模具平均寿命提高三成", "分三期：调研、攻关、推广，每期六个月", "高级技师3名、技师5名任指导教师",
              "五轴加工中心2台和热处理实训线1条", "30万", "站长负责，按季度考核进度和成果",
              "与深圳技师学院联合培养，与两家模具企业共建试验",
              "25", "技术骨干和青年技工，均为本单位职工", "40", "3", "企业标准2项、培训课程1门",
              "上年度完成模具钢热处理工艺改进，培训技工30名", user=contact)
    await chat.send_document(b"%PDF-1.4 statement", "申报说明.pdf", user=contact)
    await say(chat, "@材料齐全", user=contact)
    texts = await say(chat, "@提交", user=contact)
    assert any("SZXM-2026-0001" in t for t in texts), texts


async def deregister_invite_join(chat: Chat) -> None:
    await recognised_station(LEAVING_CONTACT, name="注销技师工作站", uscc=uscc("91440300MA5F00701"))
    leaving = chat.as_user(LEAVING_CONTACT)
    await say(chat, "/deregister", "企业转型，不再开展技师工作站工作", user=leaving)
    await chat.send_document(b"%PDF-1.4 letter", "注销申请.pdf", user=leaving)
    await say(chat, "@是", user=leaving)
    texts = await say(chat, "@提交", user=leaving)
    assert any("注销申请已提交" in t for t in texts), texts

    import re

    texts = await say(chat, "/invite", user=chat.as_user(PROJECT_CONTACT))
    code = re.findall(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{2}\b", "\n".join(texts))[0]
    texts = await say(chat, f"/join {code}", user=chat.as_user(JOINING_COLLEAGUE))
    assert any("联系人" in t for t in texts), texts


async def staff_lists(chat: Chat, checkpoint: Checkpoint, outputs: Outputs) -> None:
    staff = chat.as_user(STAFF_ID)
    from storage.models import Station

    station = await Station.get(name="项目技师工作站")
    await chat.send(f"/contacts {station.id}", user=staff)
    await chat.send("/import", user=staff)
    await chat.send_document(register_workbook(), "名册.xlsx", user=staff)
    assert "正式导入" in chat.buttons(staff), chat.texts(chat.api.calls[-3:])
    await checkpoint("the register waiting for 正式导入")
    texts = chat.texts(await chat.press("正式导入", user=staff))
    assert any("导入 1 行" in t for t in texts), texts
    await chat.send("/export", user=staff)
    await chat.send("/export full", user=chat.as_user(ADMIN_ID))
    outputs.outbox_texts += chat.texts(await chat.send("/digest", user=staff))  # the daily digest, asked for


async def filing_and_extension(chat: Chat, clock: FixedClock) -> None:
    clock.set(FILING_DAY)
    for contact_id, name, code in ((FILING_CONTACT, "备案技师工作站", "91440300MA5F00601"),
                                   (EXTENSION_CONTACT, "延期技师工作站", "91440300MA5F00501")):
        station = await recognised_station(contact_id, name=name, uscc=uscc(code), recognised_on=date(2023, 5, 1))
        filing = await FilingObligation.create(station=station, year=2026, due_on=date(2027, 2, 28))
        await apply_transition("filing", filing.id, "mark_due", actor_id=None, actor=Actor.SYSTEM, now=FILING_DAY,
                               expected_state="not_due")
    filer = chat.as_user(FILING_CONTACT)
    await say(chat, "/filing", "2", "数控机床改造项目\n模具寿命攻关项目", "12", "1", "全市模具技能竞赛一场", "30万",
              *("@是",) * 5, user=filer)
    await chat.send_document(b"%PDF-1.4 report", "2026年度建设情况报告.pdf", user=filer)
    await say(chat, "@材料齐全", user=filer)
    texts = await say(chat, "@提交", user=filer)
    assert any("SZBA-2027-0001" in t for t in texts), texts

    asker = chat.as_user(EXTENSION_CONTACT)
    await say(chat, "/extension", "@场地搬迁", "厂区整体搬迁至光明区，预计四月底完工", "4", user=asker)
    await chat.send_document(b"%PDF-1.4 letter", "延期申请.pdf", user=asker)
    texts = await say(chat, "@提交", user=asker)
    assert any("延期备案申请已提交" in t for t in texts), texts


async def digests(chat: Chat, clock: FixedClock, outputs: Outputs) -> None:
    clock.set(DIGEST_MONDAY)
    queued = await digest.queue_digests(DIGEST_MONDAY, chat.settings)
    assert {kind for _, kind, *_ in queued} >= {"digest_daily", "digest_weekly"}, queued
    await send_outbox(chat, outputs)


async def send_outbox(chat: Chat, outputs: Outputs) -> None:
    from aiogram.methods import SendDocument

    start = chat.mark()
    await OutboxSender(chat.bot).send_due(chat.clock.now())
    calls = chat.api.calls[start:]
    outputs.outbox_texts += chat.texts(calls)
    outputs.outbox_texts += [c.caption or "" for c in calls if isinstance(c, SendDocument)]
    outputs.outbox_files += [(c.document.filename, c.document.data) for c in calls if isinstance(c, SendDocument)]


async def run_every_conversation(settings: Settings, checkpoint: Checkpoint) -> tuple[Chat, Outputs]:
    """Walks every conversation on the database (and Redis) of `settings`; the chat and its outputs.
    `checkpoint` is awaited where personal numbers wait half-way: a draft, a register kept for import."""
    clock = FixedClock(NOW)
    chat = Chat(settings, clock=clock)
    outputs = Outputs()
    await declare(chat, checkpoint)
    await staff_review_and_announce(chat)
    await key_project(chat)
    await deregister_invite_join(chat)
    await staff_lists(chat, checkpoint, outputs)
    await send_outbox(chat, outputs)
    await filing_and_extension(chat, clock)
    await send_outbox(chat, outputs)
    await digests(chat, clock, outputs)
    await chat.dp.storage.close()
    outputs.files = [(c.document.filename, c.document.data) for c in Chat.documents(chat.api.calls)]
    return chat, outputs
