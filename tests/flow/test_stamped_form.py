"""六(一)1: the signed and stamped 申报表 through the real Dispatcher: the receipt and /status ask
for it, /stamped takes it for the contact's own declaration, staff are told, and until it is in
the declaration cannot be accepted for review."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.types import PhotoSize

from bot.rules.lifecycle import STAMPED_FORM, Actor
from chat_harness import NOW, STAFF_ID, Chat, make_settings
from conftest import both_databases
from scheduler.sender import OutboxSender
from storage.models import (
    BotUser,
    Contact,
    Document,
    Notice,
    Station,
    StationState,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)
from storage.transitions import TransitionRefused, apply_transition
from test_declaration import USCC, reach_summary

REFERENCE = "SZJS-2026-0007"
ASK = "请发送设立申报 SZJS-2026-0007 的盖章申报表"
AWAITED = "⏳ 盖章申报表：待上传。请将申报表（/form 可再次获取）签字并加盖单位公章后，发送 /stamped 上传扫描件；收到后工作人员方可受理审核。"


@pytest.fixture
def chat(db: str) -> Chat:
    return Chat(make_settings(db))


async def declared(user_id: int, *, status: SubmissionStatus = SubmissionStatus.SUBMITTED, n: int = 7) -> Submission:
    """A submitted declaration of `user_id`, as the submit leaves it: unit, applying station, contact."""
    unit = await Unit.create(name=f"深圳精密制造有限公司{n}", uscc=f"91440300MA5F{n:05d}X", unit_type=UnitType.ENTERPRISE)
    station = await Station.create(unit=unit, name=f"精密模具技师工作站{n}", mode="self", state=StationState.APPLYING)
    user, _ = await BotUser.get_or_create(id=user_id)
    await Contact.create(user=user, station=station, role="applicant")
    return await Submission.create(
        kind=SubmissionKind.ESTABLISHMENT, status=status, station=station, unit=unit, created_by=user_id, year=2026,
        reference=f"SZJS-2026-{n:04d}", uniqueness_key=f"establishment:{unit.uscc}", submitted_at=NOW,
        answers={"unit_name": unit.name, "station_name": station.name},
    )


async def stamped_documents(submission: Submission) -> list[Document]:
    return await Document.filter(submission_id=submission.id, kind=STAMPED_FORM).order_by("id")


async def staff_texts(chat: Chat) -> list[str]:
    mark = chat.mark()
    await OutboxSender(chat.bot).send_due(NOW)
    return [t for c in chat.api.calls[mark:] if getattr(c, "chat_id", None) == STAFF_ID for t in chat.texts([c])]


async def accept_for_review(submission: Submission) -> None:
    await apply_transition("submission", submission.id, "accept_for_review", actor_id=STAFF_ID, actor=Actor.STAFF,
                           now=NOW, expected_state="submitted")


# -- after submit ------------------------------------------------------------------------------------


async def test_the_receipt_and_status_ask_for_the_stamped_form_with_the_command(chat: Chat) -> None:
    await reach_summary(chat)
    calls = await chat.press("提交")
    receipt = next(t for t in chat.texts(calls) if "设立申报已提交" in t)
    assert "它本身也是申报材料（《实施方案》六(一)1）" in receipt
    assert "发送 /stamped 上传扫描件（PDF 或照片）。收到盖章申报表后，工作人员方可受理审核。" in receipt
    assert len(chat.documents(calls)) == 1  # the form to print, sign and stamp
    status = chat.texts(await chat.send("/status"))[0]
    assert "设立申报 SZJS-2026-0001：已提交" in status and AWAITED in status
    # and staff cannot take it into review yet
    submission = await Submission.get(created_by=chat.user.id)
    with pytest.raises(TransitionRefused) as refused:
        await accept_for_review(submission)
    assert refused.value.code == "materials_missing" and refused.value.details == {"missing": [STAMPED_FORM]}
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.SUBMITTED


# -- /stamped --------------------------------------------------------------------------------------


@both_databases
async def test_stamped_takes_the_scan_tells_staff_and_opens_the_review(chat: Chat) -> None:
    submission = await declared(chat.user.id)
    texts = chat.texts(await chat.send("/stamped"))
    assert len(texts) == 1 and texts[0].startswith(ASK) and "PDF" in texts[0]

    texts = chat.texts(await chat.send_document(b"%PDF-1.4 scan", "盖章申报表.pdf"))
    assert texts == [
        "✅ 已收到设立申报 SZJS-2026-0007 的盖章申报表（第1版）。工作人员将据此受理审核，结果会在此通知您，也可随时发送 /status 查看。"
    ]
    [stored] = await stamped_documents(submission)
    assert stored.uploaded_by == chat.user.id and stored.station_id == submission.station_id
    assert stored.file_id.startswith("local-file-") and stored.mime_type == "application/pdf"
    # staff hear of it through the outbox, once
    notice = await Notice.get(recipient_id=STAFF_ID, kind="stamped_form")
    assert notice.subject == f"submission:{submission.id}"
    assert await staff_texts(chat) == [
        "📎 设立申报 SZJS-2026-0007（深圳精密制造有限公司7，精密模具技师工作站7）已上传盖章申报表（第1版），可受理审核。"
    ]
    # /status says it is in
    status = chat.texts(await chat.send("/status"))[0]
    assert stored.created_at == chat.clock.now()  # the injected clock, not the machine's
    assert "✅ 盖章申报表：已上传（第1版，2026-11-27）" in status and "待上传" not in status
    # the next file is no longer taken as a stamped form
    await chat.send_document(b"%PDF other", "other.pdf")
    assert len(await stamped_documents(submission)) == 1
    # staff may now accept it for review
    await accept_for_review(submission)
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.UNDER_REVIEW


async def test_a_later_upload_adds_a_version_and_the_newest_is_in_force(chat: Chat) -> None:
    submission = await declared(chat.user.id)
    await chat.send("/stamped")
    await chat.send_document(b"%PDF first", "v1.pdf")
    texts = chat.texts(await chat.send("/stamped"))
    assert texts[0].startswith(ASK)
    assert "已上传过1版；再次上传将作为新的一版，以最新一版为准，此前的版本保留备查。" in texts[0]
    texts = chat.texts(await chat.send_document(b"\xff\xd8 second", "v2.jpg"))
    assert texts == ["✅ 已收到设立申报 SZJS-2026-0007 的盖章申报表第2版：以此版为准，此前上传的版本保留备查。可随时发送 /status 查看。"]
    first, second = await stamped_documents(submission)  # both kept
    assert (first.file_name, second.file_name) == ("v1.pdf", "v2.jpg")
    assert "（第2版，" in chat.texts(await chat.send("/status"))[0]
    assert await Notice.filter(recipient_id=STAFF_ID, kind="stamped_form").count() == 2  # one per version


async def test_the_file_may_come_with_the_command_or_as_a_photo(chat: Chat) -> None:
    submission = await declared(chat.user.id)
    document = chat.api.add_file(b"%PDF scan", "scan.pdf")
    mark = chat.mark()
    await chat.dp.feed_update(chat.bot, chat.api.user_message(chat.user, document=document, caption="/stamped"))
    assert "（第1版）" in chat.texts(chat.api.calls[mark:])[0]

    await chat.send("/stamped")
    photo = [PhotoSize(file_id="p-large", file_unique_id="pl", width=1280, height=960, file_size=200_000)]
    update = chat.api.user_message(chat.user, None)
    update = update.model_copy(update={"message": update.message.model_copy(update={"photo": photo})})
    mark = chat.mark()
    await chat.dp.feed_update(chat.bot, update)
    assert "第2版" in chat.texts(chat.api.calls[mark:])[0]
    stored = await stamped_documents(submission)
    assert [d.file_id for d in stored][1] == "p-large" and stored[1].mime_type == "image/jpeg"


async def test_wrong_files_and_text_are_refused_and_the_question_stands(chat: Chat) -> None:
    submission = await declared(chat.user.id)
    await chat.send("/stamped")
    texts = chat.texts(await chat.send_document(b"PK docx", "申报表.docx"))
    assert texts[0].startswith("⚠️ 盖章申报表请发送扫描件（PDF）或照片（JPG、PNG），不超过20MB；Word 文件是未盖章的申报表，不能代替。")
    texts = chat.texts(await chat.send("稍等"))
    assert texts == ["请发送盖章申报表的扫描件（PDF）或照片（JPG、PNG）；发送 /cancel 可取消。"]
    big = chat.api.add_file(b"%PDF", "big.pdf")
    big = big.model_copy(update={"file_size": 41 * 1024 * 1024})
    mark = chat.mark()
    await chat.dp.feed_update(chat.bot, chat.api.user_message(chat.user, document=big))
    assert chat.texts(chat.api.calls[mark:])[0].startswith("⚠️ 文件太大（41.0 MB）")
    assert await stamped_documents(submission) == []
    # still asked: the right file is taken
    texts = chat.texts(await chat.send_document(b"%PDF scan", "scan.pdf"))
    assert "（第1版）" in texts[0]
    assert await Notice.filter(kind="stamped_form").count() == 1


async def test_a_declaration_returned_while_the_scan_was_awaited_takes_no_file(chat: Chat) -> None:
    submission = await declared(chat.user.id)
    await chat.send("/stamped")
    await apply_transition("submission", submission.id, "reject", actor_id=STAFF_ID, actor=Actor.STAFF, now=NOW,
                           reason="材料不全")
    texts = chat.texts(await chat.send_document(b"%PDF scan", "scan.pdf"))
    assert texts == ["您的设立申报 SZJS-2026-0007 当前状态为“未通过”，已不再接收盖章申报表。如需补交材料，请联系市人力资源保障局。"]
    assert await stamped_documents(submission) == []
    assert not await Notice.filter(kind="stamped_form").exists()
    # and the next file is not taken as one either: the upload was left
    assert chat.texts(await chat.send_document(b"%PDF scan", "scan.pdf"))[0].startswith("没有理解您的输入")


async def test_cancel_leaves_the_upload(chat: Chat) -> None:
    submission = await declared(chat.user.id)
    await chat.send("/stamped")
    assert chat.texts(await chat.send("/cancel")) == ["已取消上传盖章申报表。需要时再发送 /stamped。"]
    texts = chat.texts(await chat.send_document(b"%PDF scan", "scan.pdf"))
    assert texts == ["没有理解您的输入。请使用下方按钮，或发送 /menu 打开主菜单。"]
    assert await stamped_documents(submission) == []
    assert chat.texts(await chat.send("/cancel")) == ["当前没有正在填写的事项。"]


# -- whose declaration ---------------------------------------------------------------------------------


async def test_only_for_ones_own_declaration_while_it_awaits_the_form(chat: Chat) -> None:
    theirs = await declared(5550002, n=8)
    stranger = chat.as_user(5550003)
    assert chat.texts(await chat.send("/stamped", user=stranger)) == [
        "您还没有已提交的设立申报，暂无需上传盖章申报表。发送 /declare 开始申报。"
    ]
    await chat.send_document(b"%PDF scan", "scan.pdf", user=stranger)
    assert await stamped_documents(theirs) == []

    # a contact of the same station may upload for it
    colleague = await BotUser.create(id=5550004)
    await Contact.create(user=colleague, station_id=theirs.station_id)
    await chat.send("/stamped", user=chat.as_user(5550004))
    await chat.send_document(b"%PDF scan", "scan.pdf", user=chat.as_user(5550004))
    assert [d.uploaded_by for d in await stamped_documents(theirs)] == [5550004]

    # once it is under review, no more
    await accept_for_review(theirs)
    texts = chat.texts(await chat.send("/stamped", user=chat.as_user(5550002)))
    assert texts == ["您的设立申报 SZJS-2026-0008 当前状态为“专家评审中”，已不再接收盖章申报表。如需补交材料，请联系市人力资源保障局。"]
    status = chat.texts(await chat.send("/status", user=chat.as_user(5550002)))[0]
    assert "专家评审中" in status and "盖章申报表：已上传（第1版" in status and "待上传" not in status


async def test_the_latest_declaration_is_the_one(chat: Chat) -> None:
    older = await declared(chat.user.id, status=SubmissionStatus.REJECTED, n=5)
    await Submission.filter(id=older.id).update(submitted_at=datetime(2026, 1, 5, tzinfo=UTC), uniqueness_key=None)
    latest = await declared(chat.user.id, n=7)
    await chat.send("/stamped")
    await chat.send_document(b"%PDF scan", "scan.pdf")
    assert len(await stamped_documents(latest)) == 1 and await stamped_documents(older) == []


async def test_in_english(chat: Chat) -> None:
    await declared(chat.user.id)
    await chat.send("/lang en")
    assert chat.texts(await chat.send("/stamped"))[0].startswith(
        "Please send the signed and stamped form of declaration SZJS-2026-0007"
    )
    texts = chat.texts(await chat.send_document(b"%PDF scan", "scan.pdf"))
    assert texts[0].startswith("✅ The signed and stamped form of declaration SZJS-2026-0007 is in (version 1).")
    assert "Signed and stamped form: in (version 1," in chat.texts(await chat.send("/status"))[0]


# -- a unit whose declaration is in progress ---------------------------------------------------------


async def test_a_second_person_of_the_unit_is_told_how_to_join(chat: Chat) -> None:
    await reach_summary(chat)
    await chat.press("提交")
    other = chat.as_user(5550002, first_name="赵四")
    await chat.send("/declare", user=other)
    await chat.send("同一家公司", user=other)
    text = chat.texts(await chat.send(USCC, user=other))[-1]
    assert "该单位已有一份正在办理的设立申报，不能重复申报。" in text
    assert "请向提交这份申报的申办联系人或市人力资源保障局索取工作站邀请码，以工作站联系人身份加入。" in text
    assert "/join" not in text and "/status" not in text  # no command that does not exist, nor one that shows them nothing
