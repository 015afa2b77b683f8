"""资助 paid (七(四), R9): staff record that a funded key project's money went out.

One `funding` row per key project (one-to-one), with the level and the amount of that level; the
row, an audit row and a notice to the project's contacts are written in one transaction. A second
record (a replayed button, two staff at once) is refused by the unique key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.rules.decisions import funding_for
from storage import outbox
from storage.models import AuditLog, Contact, Funding, Submission, SubmissionKind, SubmissionStatus

NOTICE_TEXT = "decision_notice.funding_paid"


class FundingRefused(Exception):
    """code: unknown | not_funded (the project is not in the funded state) | already_paid"""

    def __init__(self, code: str, status: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.status = status


async def funding_of(submission_id: int) -> Funding | None:
    return await Funding.filter(submission_id=submission_id).first()


async def record_payment(submission_id: int, *, staff_id: int, paid_on: date, now: datetime) -> tuple[Funding, tuple[int, ...]]:
    moment = now.astimezone(UTC)
    async with in_transaction():
        project = await Submission.filter(id=submission_id, kind=SubmissionKind.KEY_PROJECT).first()
        if project is None:
            raise FundingRefused("unknown")
        if project.status != SubmissionStatus.FUNDED or project.level is None or project.station_id is None:
            raise FundingRefused("not_funded", str(project.status.value))
        amount = funding_for(project.level)
        try:
            async with in_transaction():  # a savepoint: PostgreSQL aborts a transaction on a refused insert
                funding = await Funding.create(
                    submission_id=project.id, station_id=project.station_id, level=project.level, amount=amount,
                    paid_on=paid_on, recorded_by=staff_id,
                )
        except IntegrityError:
            raise FundingRefused("already_paid", str(project.status.value)) from None
        await AuditLog.create(
            actor_id=staff_id, action="key_project.record_payment", subject_type="submission", subject_id=project.id,
            before=None, after={"level": project.level, "amount": str(amount), "paid_on": paid_on.isoformat()}, at=moment,
        )
        recipients = set(await Contact.filter(station_id=project.station_id, active=True).values_list("user_id", flat=True))
        recipients.add(project.created_by)
        params = {"reference": project.reference or f"#{project.id}", "amount": f"{amount:,.0f}",
                  "level_key": f"staff.kp.level.{project.level}"}
        told = []
        for user_id in sorted(recipients - {staff_id}):
            if await outbox.enqueue(user_id, "status_change", f"submission:{project.id}", "paid", NOTICE_TEXT, now, params):
                told.append(user_id)
    return funding, tuple(told)
