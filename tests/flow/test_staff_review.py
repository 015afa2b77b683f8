"""The bureau's review (R6) through the real Dispatcher: /pending and its queues, an item with every
answer (numbers masked, revealed on request and logged), the acts with their confirmation, the
contacts told, stale and replayed buttons answered "already handled", and nobody but staff in."""

from __future__ import annotations

import asyncio

import pytest
from aiogram.methods import AnswerCallbackQuery, SendDocument

from bot.rules.lifecycle import STAMPED_FORM
from chat_harness import NOW, STAFF_ID, USER_ID, Chat, make_settings
from conftest import both_databases
from handlers.staff.queue import ItemAction, ReviewAct
from scheduler.sender import OutboxSender
from storage.models import (
    AuditLog,
    Document,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionStatus,
)
from test_declaration import HEAD_ID, HEAD_MOBILE, MENTOR_IDS, reach_summary
from test_stamped_form import declared

ADMIN_ID = 5559100
STAFF_2 = 5559002
REFUSED = "此功能仅限市人力资源保障局工作人员使用。"
ALREADY = "已经被处理过了"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db, staff_ids=frozenset({STAFF_ID, STAFF_2}), admin_ids=frozenset({ADMIN_ID})))


def staff(chat: Chat, user_id: int = STAFF_ID):
    return chat.as_user(user_id)


async def with_stamped_form(submission: Submission) -> None:
    await Document.create(submission_id=submission.id, station_id=submission.station_id, kind=STAMPED_FORM,
                          file_id="stamped-file", file_unique_id="stamped-u", file_name="盖章申报表.pdf",
                          mime_type="application/pdf", uploaded_by=submission.created_by)


async def contact_texts(chat: Chat, user_id: int = USER_ID) -> list[str]:
    """What the outbox sends the contact now."""
    mark = chat.mark()
    await OutboxSender(chat.bot).send_due(NOW)
    return [t for c in chat.api.calls[mark:] if getattr(c, "chat_id", None) == user_id for t in chat.texts([c])]


async def act(chat: Chat, button: str, text: str | None = None, user_id: int = STAFF_ID) -> list[str]:
    """Press an act on the latest item, type its note when asked, and confirm; what staff read."""
    user = staff(chat, user_id)
    seen = chat.texts(await chat.press(button, user=user))
    if text is not None:
        seen += chat.texts(await chat.send(text, user=user))
    assert "确认执行" in chat.buttons(user), seen
    return seen + chat.texts(await chat.press("确认执行", user=user))


async def submitted_declaration(chat: Chat) -> Submission:
    """A declaration walked through the form and submitted by the contact, its stamped form uploaded."""
    await reach_summary(chat)
    await chat.press("提交")
    await chat.send("/stamped")
    await chat.send_document(b"%PDF-1.4 scan", "盖章申报表.pdf")
    return await Submission.get(created_by=USER_ID)


# -- the whole path ------------------------------------------------------------------------------


async def test_pending_then_accept_then_expert_pass_and_the_contact_is_told(chat: Chat) -> None:
    submission = await submitted_declaration(chat)
    await contact_texts(chat)  # what the submit queued (the staff notices) goes out first

    texts = chat.texts(await chat.send("/pending", user=staff(chat)))
    assert "待办队列" in texts[-1] and "设立申报 · 已提交（1）" in texts[-1]
    await chat.press("设立申报 · 已提交", user=staff(chat))
    listed = chat.buttons(staff(chat))
    assert len(listed) == 2 and "SZJS-2026-0001" in listed[0] and "返回队列" in listed[1]  # one page: no pager
    calls = await chat.press("SZJS-2026-0001", user=staff(chat))
    item = "\n".join(chat.texts(calls))
    # every answer, through the form: numbers masked, the stamped form in, the history
    assert "设立申报 SZJS-2026-0001" in item and "状态：已提交" in item
    assert "单位名称：深圳精密制造有限公司" in item and "指导教师（3）" in item
    assert HEAD_ID not in item and HEAD_MOBILE not in item and MENTOR_IDS[0] not in item
    assert "138****8000" in item
    assert "✅ 盖章申报表：已上传（共1版" in item
    assert "草稿 → 已提交（申报单位）" in item
    assert "✅ 受理，送专家评审" in chat.buttons(staff(chat))

    seen = await act(chat, "受理")
    assert any("确认对 SZJS-2026-0001 执行“✅ 受理，送专家评审”吗？" in t for t in seen)
    assert any("✅ 已对 SZJS-2026-0001 执行“✅ 受理，送专家评审”，当前状态：专家评审中。已通知申报单位联系人 1 人。" in t for t in seen)
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.UNDER_REVIEW
    assert await contact_texts(chat) == ["🔔 设立申报 SZJS-2026-0001：专家评审中。发送 /status 查看。"]

    seen = await act(chat, "通过", text="专家组一致认为具备设立条件")
    assert any("请输入 SZJS-2026-0001 的专家评审意见" in t for t in seen)
    assert any("说明：专家组一致认为具备设立条件" in t for t in seen)
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.APPROVED
    assert await contact_texts(chat) == [
        "🔔 设立申报 SZJS-2026-0001：评审通过。\n说明：专家组一致认为具备设立条件\n发送 /status 查看。"
    ]
    rows = await StatusTransition.filter(subject_type="submission", subject_id=submission.id).order_by("id")
    assert [(r.action, r.actor_id, r.reason) for r in rows[1:]] == [
        ("accept_for_review", STAFF_ID, ""), ("record_review_pass", STAFF_ID, "专家组一致认为具备设立条件"),
    ]
    audit = await AuditLog.filter(subject_type="submission", subject_id=submission.id).order_by("id")
    assert [a.action for a in audit] == ["establishment.accept_for_review", "establishment.record_review_pass"]
    # the item now shows the history and offers what follows approval here: disqualification only
    item = "\n".join(chat.texts(await chat.send("/review SZJS-2026-0001", user=staff(chat))))
    assert "专家评审中 → 评审通过（工作人员），说明：专家组一致认为具备设立条件" in item
    assert [b for b in chat.buttons(staff(chat)) if "⛔" in b or "✅ 受理" in b] == ["⛔ 取消申报资格（弄虚作假）"]


async def test_reject_with_a_reason_ends_the_declaration_and_its_station(chat: Chat) -> None:
    submission = await declared(USER_ID)
    await chat.send("/review szjs-2026-0007", user=staff(chat))
    seen = await act(chat, "不予受理", text="申办报告缺少实施步骤")
    assert any("请输入不予受理 SZJS-2026-0007 的理由" in t for t in seen)
    after = await Submission.get(id=submission.id)
    assert after.status == SubmissionStatus.REJECTED and after.uniqueness_key is None
    assert (await Station.get(id=submission.station_id)).state == StationState.NOT_ESTABLISHED
    assert await contact_texts(chat) == ["🔔 设立申报 SZJS-2026-0007：未通过。\n原因：申办报告缺少实施步骤\n发送 /status 查看。"]


async def test_disqualify_asks_for_the_reason_and_cancel_changes_nothing(chat: Chat) -> None:
    submission = await declared(USER_ID)
    await with_stamped_form(submission)
    await chat.send("/review SZJS-2026-0007", user=staff(chat))
    await chat.press("取消申报资格", user=staff(chat))
    await chat.send("导师证书系伪造", user=staff(chat))
    assert chat.texts(await chat.press("取消", user=staff(chat))) == ["已取消，未做任何更改。"]
    # /cancel while the reason is asked stops too, and the next text is no reason
    await chat.send("/review SZJS-2026-0007", user=staff(chat))
    await chat.press("取消申报资格", user=staff(chat))
    assert chat.texts(await chat.send("/cancel", user=staff(chat))) == ["已取消，未做任何更改。"]
    assert "确认执行" not in " ".join(chat.texts(await chat.send("导师证书系伪造", user=staff(chat))))
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.SUBMITTED
    await chat.send("/review SZJS-2026-0007", user=staff(chat))
    await act(chat, "取消申报资格", text="导师证书系伪造")
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.DISQUALIFIED


async def test_accepting_without_the_stamped_form_is_refused_naming_stamped(chat: Chat) -> None:
    submission = await declared(USER_ID)
    item = "\n".join(chat.texts(await chat.send("/review SZJS-2026-0007", user=staff(chat))))
    assert "⏳ 盖章申报表：未上传" in item
    seen = await act(chat, "受理")
    assert seen[-1] == (
        "不能受理 SZJS-2026-0007：缺少盖章申报表。请申报单位联系人签字盖章后发送 /stamped 上传，收到后即可受理。"
    )
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.SUBMITTED
    assert not await AuditLog.filter(subject_id=submission.id).exists()


# -- reveal, documents, the printable form --------------------------------------------------------


async def test_reveal_shows_the_numbers_in_full_and_logs_who_saw_which_item(chat: Chat) -> None:
    submission = await submitted_declaration(chat)
    await chat.send("/review SZJS-2026-0001", user=staff(chat))
    item = "\n".join(chat.texts(await chat.press("显示完整", user=staff(chat))))
    assert HEAD_ID in item and HEAD_MOBILE in item and MENTOR_IDS[0] in item
    [log] = await AuditLog.filter(action="submission.reveal_personal")
    assert (log.actor_id, log.subject_type, log.subject_id, log.at) == (STAFF_ID, "submission", submission.id, NOW)
    assert "head_id_number" in log.after["fields"]
    assert HEAD_ID not in str(log.after) and HEAD_MOBILE not in str(log.after)


async def test_documents_go_back_as_files_and_the_form_as_docx(chat: Chat) -> None:
    submission = await submitted_declaration(chat)
    await chat.send("/review SZJS-2026-0001", user=staff(chat))
    stored = await Document.filter(submission_id=submission.id).order_by("id").values_list("file_id", flat=True)
    calls = await chat.press("发送申报材料", user=staff(chat))
    sent = [c for c in calls if isinstance(c, SendDocument)]
    assert [c.document for c in sent] == list(stored)
    assert all(c.chat_id == STAFF_ID for c in sent)
    await chat.send("/review SZJS-2026-0001", user=staff(chat))
    [printed] = chat.documents(await chat.press("申报表（.docx）", user=staff(chat)))
    assert printed.document.filename.endswith(".docx")


# -- stale and replayed buttons ---------------------------------------------------------------


async def test_a_replayed_confirm_button_after_the_act_is_refused_cleanly(chat: Chat) -> None:
    submission = await declared(USER_ID)
    await with_stamped_form(submission)
    await chat.send("/review SZJS-2026-0007", user=staff(chat))
    await act(chat, "受理")
    confirm = ReviewAct(id=submission.id, action="accept_for_review", state="submitted", step="y").pack()
    texts = chat.texts(await chat.press_data(confirm, user=staff(chat)))
    assert len(texts) == 1 and ALREADY in texts[0] and "当前状态：专家评审中" in texts[0]
    # an old act button from the item as first shown: refused before anything is asked
    ask = ReviewAct(id=submission.id, action="reject", state="submitted", step="a").pack()
    texts = chat.texts(await chat.press_data(ask, user=staff(chat)))
    assert len(texts) == 1 and ALREADY in texts[0]
    assert await StatusTransition.filter(subject_id=submission.id, action="accept_for_review").count() == 1
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.UNDER_REVIEW


@both_databases
async def test_two_staff_confirm_at_once_one_acts_the_other_is_told(chat: Chat) -> None:
    submission = await declared(USER_ID)
    await with_stamped_form(submission)
    for user_id, button in ((STAFF_ID, "受理"), (STAFF_2, "不予受理")):
        await chat.send("/review SZJS-2026-0007", user=staff(chat, user_id))
        await chat.press(button, user=staff(chat, user_id))
    await chat.send("材料不全", user=staff(chat, STAFF_2))
    first, second = chat.last_with_buttons(staff(chat)), chat.last_with_buttons(staff(chat, STAFF_2))
    data = [
        (STAFF_ID, ReviewAct(id=submission.id, action="accept_for_review", state="submitted", step="y").pack(), first),
        (STAFF_2, ReviewAct(id=submission.id, action="reject", state="submitted", step="y").pack(), second),
    ]
    results = await asyncio.gather(*(chat.press_data(d, user=staff(chat, u), message=m) for u, d, m in data))
    # the calls of both updates interleave: each staff member's by chat
    texts = [chat.texts([c for c in calls if getattr(c, "chat_id", None) == u]) for (u, _, _), calls in zip(data, results)]
    done = [t for t in texts if any(x.startswith("✅ 已对") for x in t)]
    refused = [t for t in texts if any(ALREADY in x for x in t)]
    assert len(done) == 1 and len(refused) == 1
    after = await Submission.get(id=submission.id)
    assert after.status in (SubmissionStatus.UNDER_REVIEW, SubmissionStatus.REJECTED)
    rows = await StatusTransition.filter(subject_type="submission", subject_id=submission.id).count()
    assert rows == 1  # declared() wrote no submit row: exactly the one act


# -- who may do any of it ---------------------------------------------------------------------


def alerts(calls: list) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery) and c.text]


@pytest.mark.parametrize("who", ["nobody", "contact_a", "contact_b", "staff", "admin"])
async def test_access_matrix(chat: Chat, who: str) -> None:
    a = await declared(USER_ID, n=7)
    await with_stamped_form(a)
    await declared(6200, n=8)  # station B, its contact 6200
    user = chat.as_user({"nobody": 7001, "contact_a": USER_ID, "contact_b": 6200, "staff": STAFF_ID,
                         "admin": ADMIN_ID}[who])
    allowed = who in ("staff", "admin")
    pending = chat.texts(await chat.send("/pending", user=user))
    review = chat.texts(await chat.send("/review SZJS-2026-0007", user=user))
    if allowed:
        assert "设立申报 · 已提交（2）" in pending[-1] and "设立申报 SZJS-2026-0007" in review[-1]
    else:
        assert pending == [REFUSED] and review == [REFUSED]
    await chat.send("/start", user=user)
    message = chat.last_with_buttons(user)
    buttons = [ItemAction(id=a.id, op=op).pack() for op in ("open", "reveal", "docs", "print")]
    buttons += [ReviewAct(id=a.id, action="accept_for_review", state="submitted", step=s).pack() for s in ("a", "y")]
    for data in buttons:
        calls = await chat.press_data(data, user=user, message=message)
        if allowed:
            assert alerts(calls) != [REFUSED]
        else:
            assert alerts(calls) == [REFUSED] and not chat.texts(calls) and not chat.documents(calls)
    assert (await Submission.get(id=a.id)).status == (SubmissionStatus.UNDER_REVIEW if allowed else SubmissionStatus.SUBMITTED)
    reveals = await AuditLog.filter(action="submission.reveal_personal").count()
    assert reveals == (1 if allowed else 0)


# -- the queues ---------------------------------------------------------------------------------


def test_the_queues_come_from_the_life_cycles() -> None:
    from bot.services.review import review_queues

    assert review_queues() == [
        ("establishment", "submitted"), ("establishment", "under_review"),
        ("key_project", "submitted"), ("key_project", "under_review"),
        ("extension", "submitted"), ("deregistration", "submitted"),
    ]


async def test_a_queue_lists_the_oldest_first_eight_to_a_page(chat: Chat) -> None:
    for n in range(1, 11):
        submission = await declared(6300 + n, n=n)
        # the later the number, the earlier it came in
        await Submission.filter(id=submission.id).update(submitted_at=NOW.replace(day=20 - n))
    texts = chat.texts(await chat.send("/pending", user=staff(chat)))
    assert "设立申报 · 已提交（10）" in texts[-1]
    await chat.press("设立申报 · 已提交", user=staff(chat))
    items = [b for b in chat.buttons(staff(chat)) if b.startswith("SZJS-")]
    assert [b.split(" ")[0] for b in items] == [f"SZJS-2026-{n:04d}" for n in range(10, 2, -1)]
    assert items[0] == "SZJS-2026-0010 · 深圳精密制造有限公司10 · 11-10"
    await chat.press(">", user=staff(chat))
    items = [b for b in chat.buttons(staff(chat)) if b.startswith("SZJS-")]
    assert [b.split(" ")[0] for b in items] == ["SZJS-2026-0002", "SZJS-2026-0001"]


async def test_an_english_contact_is_told_in_english(chat: Chat) -> None:
    from storage.models import BotUser, Language

    await declared(USER_ID)
    await BotUser.filter(id=USER_ID).update(language=Language.EN)
    await chat.send("/review SZJS-2026-0007", user=staff(chat))
    await act(chat, "不予受理", text="申办报告缺少实施步骤")
    [text] = await contact_texts(chat)
    assert text.startswith("🔔 Establishment declaration SZJS-2026-0007: ") and "Reason: 申办报告缺少实施步骤" in text
