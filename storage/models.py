"""Tortoise models for the whole domain of SPEC §2 and §4.

Personal data (ID numbers, mobiles) is never stored here in clear: the application encrypts it
before it reaches a model (see `bot.crypto`), and the JSON `answers` of a submission hold only
the encrypted form of such fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.manager import Manager
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model
from tortoise.queryset import BulkUpdateQuery, QuerySet, UpdateQuery


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


class UnitType(StrEnum):
    ENTERPRISE = "enterprise"  # 企业
    GROUP = "group"  # 企业集团
    ASSOCIATION = "association"  # 行业协会
    INSTITUTION = "institution"  # 科研生产型事业单位


class EstablishmentMode(StrEnum):
    SELF = "self"  # 自行申请设立
    CO_BUILT = "co_built"  # 合作共建


# The states of the life cycles are declared in bot.rules.lifecycle; these enums name the same
# values for the columns (tests/unit/test_transitions.py checks that they agree).


class StationState(StrEnum):
    APPLYING = "applying"  # declared, not yet recognised
    NOT_ESTABLISHED = "not_established"  # declaration rejected, withdrawn, disqualified, objected to
    ACTIVE = "active"
    OVERDUE = "overdue"
    REVOCATION_CANDIDATE = "revocation_candidate"
    REVOKED = "revoked"
    DEREGISTRATION_REQUESTED = "deregistration_requested"
    DEREGISTERED = "deregistered"


class ContactRole(StrEnum):
    APPLICANT = "applicant"
    CONTACT = "contact"


class SubmissionKind(StrEnum):
    ESTABLISHMENT = "establishment"
    KEY_PROJECT = "key_project"
    ANNUAL_FILING = "annual_filing"
    EXTENSION = "extension"
    DEREGISTRATION = "deregistration"


class SubmissionStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    GRADED = "graded"
    NOT_SELECTED = "not_selected"
    ANNOUNCED = "announced"
    OBJECTION = "objection"
    OBJECTION_UPHELD = "objection_upheld"  # 异议成立
    OBJECTION_DISMISSED = "objection_dismissed"  # 异议不成立
    RECOGNISED = "recognised"
    FUNDED = "funded"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    DISQUALIFIED = "disqualified"


class FilingState(StrEnum):
    """The annual filing obligation of a station for a year (R10, R11)."""

    NOT_DUE = "not_due"
    DUE = "due"
    EXTENDED = "extended"
    OVERDUE = "overdue"
    FILED_ON_TIME = "filed_on_time"
    FILED_LATE = "filed_late"


class AnnouncementKind(StrEnum):
    ESTABLISHMENT = "establishment"  # 认定结果 of establishment declarations, 六(三)
    KEY_PROJECT = "key_project"  # 认定结果 of key projects and their levels, 七(三)


class AnnouncementState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class ObjectionStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone reached the database: whose clock was it?"""


class UtcDatetimeField(fields.DatetimeField):
    """The one column type for timestamps: every value is written (and compared) in UTC.

    tortoise hands an aware datetime to SQLite as text in its own offset ("...+08:00"), and SQLite
    compares timestamps as text, so rows written from different clocks would sort wrongly. Here
    an aware value is converted to UTC on its way to the database, for inserts, updates and
    filters alike, and a naive one is refused.
    """

    def to_python_value(self, value: Any) -> datetime | None:
        # A datetime object arrives from the application (a model built with it) or from asyncpg,
        # which returns aware ones; text from SQLite is parsed by tortoise.
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise NaiveDatetimeError(f"{self.model_field_name}: naive datetime {value!r}; pass an aware one")
        return super().to_python_value(value)

    def to_db_value(self, value: Any, instance: type[Model] | Model) -> Any:
        if hasattr(instance, "_saved_in_db") and (
            self.auto_now or (self.auto_now_add and getattr(instance, self.model_field_name) is None)
        ):
            now = datetime.now(UTC)
            setattr(instance, self.model_field_name, now)
            return now
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise NaiveDatetimeError(f"{self.model_field_name}: naive datetime {value!r}; pass an aware one")
            value = value.astimezone(UTC)
        return super().to_db_value(value, instance)


def _auto_now_fields(model: type[Model]) -> list[str]:
    return [
        name
        for name, field in model._meta.fields_map.items()
        if isinstance(field, fields.DatetimeField) and field.auto_now
    ]


class TouchingQuerySet(QuerySet):
    """`update()` and `bulk_update()` move the model's `auto_now` columns (updated_at) too."""

    def update(self, **kwargs: Any) -> UpdateQuery:
        now = datetime.now(UTC)
        for name in _auto_now_fields(self.model):
            kwargs.setdefault(name, now)
        return super().update(**kwargs)

    def bulk_update(self, objects: Iterable[Model], fields: Iterable[str], batch_size: int | None = None) -> BulkUpdateQuery:
        names = list(fields)
        names += [name for name in _auto_now_fields(self.model) if name not in names]
        return super().bulk_update(objects, names, batch_size)


class TouchingManager(Manager):
    def get_queryset(self) -> QuerySet:
        return TouchingQuerySet(self._model)


class TimestampedModel(Model):
    """created_at and updated_at, kept by the ORM: updated_at moves on every kind of update
    (save, save(update_fields=...), QuerySet.update, bulk_update), so no caller has to remember."""

    created_at = UtcDatetimeField(auto_now_add=True)
    updated_at = UtcDatetimeField(auto_now=True)

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each concrete model has a Meta of its own, which would bring the plain manager back.
        cls._meta.manager = TouchingManager()

    async def save(
        self,
        using_db: BaseDBAsyncClient | None = None,
        update_fields: Iterable[str] | None = None,
        force_create: bool = False,
        force_update: bool = False,
    ) -> None:
        if update_fields is not None:
            update_fields = list(update_fields)
            if "updated_at" not in update_fields:
                update_fields.append("updated_at")
        await super().save(using_db=using_db, update_fields=update_fields, force_create=force_create, force_update=force_update)


def _lifecycle_state(description: str) -> str:
    # A fixed description: by default tortoise describes an enum column by listing its members,
    # so adding a state would alter the column, and on SQLite altering a column rebuilds the table
    # (which drops its composite unique constraints and, with foreign keys on, deletes the rows
    # that reference it through ON DELETE CASCADE). The values are checked by the application.
    return f"state of {description}: see bot.rules.lifecycle"


class BotUser(TimestampedModel):
    """Anyone who has written to the bot: language and reachability live here."""

    id = fields.BigIntField(primary_key=True, generated=False)  # Telegram user id
    language = fields.CharEnumField(Language, max_length=8, default=Language.ZH)
    reachable = fields.BooleanField(default=True)
    unreachable_since = UtcDatetimeField(null=True)

    class Meta:
        table = "bot_user"


class Staff(TimestampedModel):
    """Staff granted in the bot by an admin: STAFF_IDS/ADMIN_IDS from settings need no row."""

    user_id = fields.BigIntField(unique=True)
    granted_by = fields.BigIntField()
    active = fields.BooleanField(default=True)

    class Meta:
        table = "staff"


class Unit(TimestampedModel):
    """申办单位: the organisation behind a station."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    uscc = fields.CharField(max_length=18, unique=True)
    unit_type = fields.CharEnumField(UnitType, max_length=16)
    legal_representative = fields.CharField(max_length=100, default="")
    address = fields.CharField(max_length=300, default="")
    main_field = fields.CharField(max_length=200, default="")
    employees = fields.IntField(null=True)

    class Meta:
        table = "unit"


class Station(TimestampedModel):
    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="stations", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    mode = fields.CharEnumField(EstablishmentMode, max_length=16)
    partner_name = fields.CharField(max_length=200, default="")
    school_enterprise = fields.BooleanField(default=False)
    recognised_on = fields.DateField(null=True)  # 授牌
    state = fields.CharEnumField(
        StationState, max_length=32, default=StationState.APPLYING, description=_lifecycle_state("the station")
    )
    # 九 (R12, R13): revoked by the bureau and the plaque taken back; a suspected crime handed to
    # the judicial authorities. (R14) deregistered on request, the plaque handed back.
    revoked_on = fields.DateField(null=True)
    revocation_reason = fields.TextField(default="", db_default="")
    plaque_returned_on = fields.DateField(null=True)
    deregistered_on = fields.DateField(null=True)
    judicial_referral_on = fields.DateField(null=True)

    class Meta:
        table = "station"


class Contact(TimestampedModel):
    """A person bound to a station, and a station may have several."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[BotUser] = fields.ForeignKeyField(
        "models.BotUser", related_name="contacts", on_delete=fields.CASCADE
    )
    station: fields.ForeignKeyRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="contacts", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(ContactRole, max_length=16, default=ContactRole.CONTACT)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "contact"
        unique_together = (("user", "station"),)


class InviteCode(TimestampedModel):
    """One-time code with which a further contact joins a station.

    Only the SHA-256 of the code is kept: the code itself is shown once, to whoever issued it, and
    a copy of the database cannot be used to join a station.
    """

    id = fields.IntField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True)  # sha-256 hex, see `hash_code`
    station: fields.ForeignKeyRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="invites", on_delete=fields.CASCADE
    )
    issued_by = fields.BigIntField()
    expires_at = UtcDatetimeField()
    used_by = fields.BigIntField(null=True)
    used_at = UtcDatetimeField(null=True)

    class Meta:
        table = "invite_code"

    @staticmethod
    def hash_code(code: str) -> str:
        """The stored form of a code as typed: case and surrounding blanks do not matter."""
        return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class Submission(TimestampedModel):
    """Every formal act: declarations, key projects, filings, extensions, deregistrations.

    `uniqueness_key` is set when a submission is submitted and enforces the policy's
    "one per ..." rules in the database itself: `key_project:<station>:<year>`,
    `annual_filing:<station>:<year>`, `establishment:<uscc>`. It is cleared when the
    rule no longer binds, by the transitions that say so in bot.rules.lifecycle (a rejected
    establishment declaration frees its unit).
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(SubmissionKind, max_length=24)
    status = fields.CharEnumField(
        SubmissionStatus, max_length=24, default=SubmissionStatus.DRAFT, description=_lifecycle_state("the submission's kind")
    )
    unit: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="submissions", null=True, on_delete=fields.RESTRICT
    )
    station: fields.ForeignKeyNullableRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="submissions", null=True, on_delete=fields.RESTRICT
    )
    created_by = fields.BigIntField()
    year = fields.IntField(null=True)
    answers = fields.JSONField(default=dict)
    reference = fields.CharField(max_length=32, unique=True, null=True)
    uniqueness_key = fields.CharField(max_length=64, unique=True, null=True)
    level = fields.SmallIntField(null=True)  # key project grade 1..3
    due_on = fields.DateField(null=True)  # filing due date, or the extended date
    submitted_at = UtcDatetimeField(null=True)
    decided_at = UtcDatetimeField(null=True)

    class Meta:
        table = "submission"
        indexes = (
            ("kind", "status"),
            ("station_id", "kind", "year"),
            ("status", "submitted_at"),  # the staff queues, oldest first
            ("created_by", "kind", "status"),  # a contact's drafts
        )


class ReferenceCounter(Model):
    """Serial numbers for receipts (SZJS-<year>-<serial>), one row per (prefix, year)."""

    id = fields.IntField(primary_key=True)
    prefix = fields.CharField(max_length=16)
    year = fields.IntField()
    last_serial = fields.IntField(default=0)

    class Meta:
        table = "reference_counter"
        unique_together = (("prefix", "year"),)


class Document(TimestampedModel):
    id = fields.IntField(primary_key=True)
    submission: fields.ForeignKeyNullableRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="documents", null=True, on_delete=fields.CASCADE
    )
    station: fields.ForeignKeyNullableRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="documents", null=True, on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=48)  # e.g. business_licence, mentor_id_card
    item = fields.CharField(max_length=32, default="")  # e.g. the mentor it belongs to
    file_id = fields.CharField(max_length=255)
    file_unique_id = fields.CharField(max_length=64)
    file_name = fields.CharField(max_length=255, default="")
    file_size = fields.BigIntField(null=True)
    mime_type = fields.CharField(max_length=100, default="")
    uploaded_by = fields.BigIntField()

    class Meta:
        table = "document"


class StatusTransition(Model):
    """Every change of state of a submission, a station or a filing obligation, with who and when.

    Written only by storage.transitions.apply_transition (and, for a station's first state, by
    whoever creates the station).
    """

    id = fields.IntField(primary_key=True)
    subject_type = fields.CharField(max_length=16)  # "submission" | "station" | "filing"
    subject_id = fields.IntField()
    action = fields.CharField(max_length=32, default="", db_default="")  # bot.rules.lifecycle
    from_status = fields.CharField(max_length=32, null=True)
    to_status = fields.CharField(max_length=32)
    actor_id = fields.BigIntField(null=True)  # None: the system (scheduler)
    actor_kind = fields.CharField(max_length=16, default="", db_default="")  # contact|staff|system|public
    reason = fields.TextField(default="")
    at = UtcDatetimeField(auto_now_add=True)

    class Meta:
        table = "status_transition"
        indexes = (("subject_type", "subject_id"),)


class Announcement(TimestampedModel):
    """公示 of recognition or key-project results: one batch, several items (R6, R19).

    Its window counts working days by default (公示5个工作日).
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(AnnouncementKind, max_length=16)
    starts_on = fields.DateField()
    ends_on = fields.DateField()
    state = fields.CharEnumField(AnnouncementState, max_length=16, default=AnnouncementState.SCHEDULED)
    created_by = fields.BigIntField()

    class Meta:
        table = "announcement"
        indexes = (("state", "ends_on"),)  # open announcements by end date (the scheduler)


class AnnouncementItem(TimestampedModel):
    """One submission announced in a batch."""

    id = fields.IntField(primary_key=True)
    announcement: fields.ForeignKeyRelation[Announcement] = fields.ForeignKeyField(
        "models.Announcement", related_name="items", on_delete=fields.CASCADE
    )
    submission: fields.ForeignKeyRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="announcement_items", on_delete=fields.RESTRICT
    )

    class Meta:
        table = "announcement_item"
        unique_together = (("announcement", "submission"),)


class Objection(TimestampedModel):
    """异议 against one announced item, from anyone, with an optional evidence file."""

    id = fields.IntField(primary_key=True)
    item: fields.ForeignKeyRelation[AnnouncementItem] = fields.ForeignKeyField(
        "models.AnnouncementItem", related_name="objections", on_delete=fields.CASCADE
    )
    filed_by = fields.BigIntField()
    text = fields.TextField()
    evidence_file_id = fields.CharField(max_length=255, null=True)
    evidence_file_name = fields.CharField(max_length=255, default="")
    status = fields.CharEnumField(ObjectionStatus, max_length=16, default=ObjectionStatus.PENDING)
    decided_by = fields.BigIntField(null=True)
    decided_at = UtcDatetimeField(null=True)
    decision_note = fields.TextField(default="")

    class Meta:
        table = "objection"
        indexes = (("status", "created_at"),)  # pending objections, oldest first


class FilingObligation(TimestampedModel):
    """The annual filing (年度备案) a station owes for a year.

    Due at the end of February of year+1 (R10), or at the end of an approved extension (R11); met
    by one annual_filing submission.
    """

    id = fields.IntField(primary_key=True)
    station: fields.ForeignKeyRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="filing_obligations", on_delete=fields.RESTRICT
    )
    year = fields.IntField()
    due_on = fields.DateField()
    extended_due_on = fields.DateField(null=True)
    state = fields.CharEnumField(
        FilingState, max_length=16, default=FilingState.NOT_DUE, description=_lifecycle_state("the filing obligation")
    )
    submission: fields.OneToOneNullableRelation[Submission] = fields.OneToOneField(
        "models.Submission", related_name="filing_obligation", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "filing_obligation"
        unique_together = (("station", "year"),)
        indexes = (("state", "due_on"),)  # what falls due or overdue (the scheduler)


class KeyProjectWindow(TimestampedModel):
    """The application window for the key projects of a year (七(一)), opened by staff."""

    id = fields.IntField(primary_key=True)
    year = fields.IntField(unique=True)
    opens_on = fields.DateField()
    closes_on = fields.DateField()
    opened_by = fields.BigIntField()
    closed_at = UtcDatetimeField(null=True)

    class Meta:
        table = "key_project_window"


KEY_PROJECT_LEVELS = (1, 2, 3)  # 一级, 二级, 三级
KEY_PROJECT_SLOTS_PER_LEVEL = 10


class KeyProjectGrade(Model):
    """The place a graded key project holds among the ten of its level in its year (R8, 七(二)).

    The database itself keeps the caps: a place is a slot 1..10 (CHECK), unique per (year, level),
    so an eleventh project of a level cannot be stored however many staff grade at the same moment;
    three levels of ten make the at most 30 a year. The row goes when the project leaves the
    graded path (disqualified, objection upheld), freeing the place.
    """

    id = fields.IntField(primary_key=True)
    year = fields.IntField()
    level = fields.SmallIntField()
    slot = fields.SmallIntField()
    # A plain foreign key made unique by `unique_together`: on SQLite the CHECKs come with a table
    # rebuild, which keeps no UNIQUE of a one-to-one column; a unique constraint added after it is kept.
    submission: fields.ForeignKeyRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="grades", on_delete=fields.CASCADE
    )
    graded_by = fields.BigIntField(null=True)
    graded_at = UtcDatetimeField()

    class Meta:
        table = "key_project_grade"
        unique_together = (("year", "level", "slot"), ("submission",))
        constraints = (
            CheckConstraint(check="level BETWEEN 1 AND 3", name="key_project_grade_level"),
            CheckConstraint(check="slot BETWEEN 1 AND 10", name="key_project_grade_slot"),
        )


class Funding(TimestampedModel):
    """资助 of a key project (七(四), R9) and its recovery (追回, 九, R13). Amounts in CNY."""

    id = fields.IntField(primary_key=True)
    submission: fields.OneToOneRelation[Submission] = fields.OneToOneField(
        "models.Submission", related_name="funding", on_delete=fields.RESTRICT
    )
    station: fields.ForeignKeyRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="fundings", on_delete=fields.RESTRICT
    )
    level = fields.SmallIntField()
    amount = fields.DecimalField(max_digits=12, decimal_places=2)
    paid_on = fields.DateField(null=True)
    recovery_required = fields.BooleanField(default=False)
    recovery_amount = fields.DecimalField(max_digits=12, decimal_places=2, null=True)
    recovery_reason = fields.TextField(default="")
    recovered_on = fields.DateField(null=True)
    recorded_by = fields.BigIntField()

    class Meta:
        table = "funding"


class Inspection(TimestampedModel):
    """核查 of a station by the bureau (九, R13)."""

    id = fields.IntField(primary_key=True)
    station: fields.ForeignKeyRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="inspections", on_delete=fields.RESTRICT
    )
    inspected_on = fields.DateField()
    finding = fields.TextField()
    inspected_by = fields.BigIntField()

    class Meta:
        table = "inspection"
        indexes = (("station_id", "inspected_on"),)


class HolidayArrangement(TimestampedModel):
    """A public holiday or make-up working day (调休) the holiday library does not know.

    For years the library has no data for: is_workday false for a holiday, true for a weekend day
    worked instead. Used to count the working days of a 公示 (R19).
    """

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    is_workday = fields.BooleanField()
    note = fields.CharField(max_length=100, default="")
    entered_by = fields.BigIntField(null=True)

    class Meta:
        table = "holiday_arrangement"


class Notice(TimestampedModel):
    """The outbox. The unique key makes a notice impossible to queue twice (SPEC §6)."""

    id = fields.IntField(primary_key=True)
    recipient_id = fields.BigIntField()
    kind = fields.CharField(max_length=48)
    subject = fields.CharField(max_length=64)
    period = fields.CharField(max_length=32)
    text_key = fields.CharField(max_length=64)
    params = fields.JSONField(default=dict)
    due_at = UtcDatetimeField()
    status = fields.CharEnumField(NoticeStatus, max_length=16, default=NoticeStatus.PENDING)
    attempts = fields.SmallIntField(default=0)
    sent_at = UtcDatetimeField(null=True)
    error = fields.CharField(max_length=200, default="")

    class Meta:
        table = "notice"
        unique_together = (("recipient_id", "kind", "subject", "period"),)
        indexes = (("status", "due_at"),)


class AnnouncementSubscriber(Model):
    """Someone who asked, under /announcements, to be told when a 公示 starts and ends (SPEC §6)."""

    id = fields.IntField(primary_key=True)
    user_id = fields.BigIntField(unique=True)
    subscribed_at = UtcDatetimeField()

    class Meta:
        table = "announcement_subscriber"


class AuditLog(Model):
    id = fields.IntField(primary_key=True)
    actor_id = fields.BigIntField()
    action = fields.CharField(max_length=64)
    subject_type = fields.CharField(max_length=16)
    subject_id = fields.IntField(null=True)
    before = fields.JSONField(null=True)
    after = fields.JSONField(null=True)
    at = UtcDatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_log"
        indexes = (("subject_type", "subject_id"),)


class ConversationState(Model):
    """aiogram FSM state and data, keyed by the storage key (see storage.fsm)."""

    key = fields.CharField(max_length=255, primary_key=True)
    state = fields.CharField(max_length=255, null=True)
    data = fields.JSONField(default=dict)
    updated_at = UtcDatetimeField(auto_now=True)

    class Meta:
        table = "conversation_state"
        manager = TouchingManager()


class UpdateClaim(Model):
    """A Telegram update in hand or handled, so that a second delivery is not handled again."""

    # storage.update_claims: `lease_until` is set while the update is in hand, NULL once handled;
    # a row is purged a day after `claimed_at`.

    update_id = fields.BigIntField(primary_key=True)
    claimed_at = UtcDatetimeField()
    lease_until = UtcDatetimeField(null=True)

    class Meta:
        table = "update_claim"
        indexes = (("claimed_at",),)
