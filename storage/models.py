"""Tortoise models for the whole domain of SPEC §2 and §4.

Personal data (ID numbers, mobiles) is never stored here in clear: the application encrypts it
before it reaches a model (see `bot.crypto`), and the JSON `answers` of a submission hold only
the encrypted form of such fields.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


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


class StationState(StrEnum):
    APPLYING = "applying"  # declared, not yet recognised
    NOT_ESTABLISHED = "not_established"  # declaration rejected or withdrawn
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
    RECOGNISED = "recognised"
    FUNDED = "funded"
    FILED_ON_TIME = "filed_on_time"
    FILED_LATE = "filed_late"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    DISQUALIFIED = "disqualified"


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


class TimestampedModel(Model):
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


class BotUser(TimestampedModel):
    """Anyone who has written to the bot: language and reachability live here."""

    id = fields.BigIntField(primary_key=True, generated=False)  # Telegram user id
    language = fields.CharEnumField(Language, max_length=8, default=Language.ZH)
    reachable = fields.BooleanField(default=True)
    unreachable_since = fields.DatetimeField(null=True)

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
    recognised_on = fields.DateField(null=True)
    state = fields.CharEnumField(StationState, max_length=32, default=StationState.APPLYING)

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
    """One-time code with which a further contact joins a station."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=16, unique=True)
    station: fields.ForeignKeyRelation[Station] = fields.ForeignKeyField(
        "models.Station", related_name="invites", on_delete=fields.CASCADE
    )
    issued_by = fields.BigIntField()
    expires_at = fields.DatetimeField()
    used_by = fields.BigIntField(null=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "invite_code"


class Submission(TimestampedModel):
    """Every formal act: declarations, key projects, filings, extensions, deregistrations.

    `uniqueness_key` is set when a submission is submitted and enforces the policy's
    "one per ..." rules in the database itself: `key_project:<station>:<year>`,
    `annual_filing:<station>:<year>`, `establishment:<uscc>`. It is cleared when the
    rule no longer binds (a rejected establishment declaration frees its unit).
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(SubmissionKind, max_length=24)
    status = fields.CharEnumField(SubmissionStatus, max_length=24, default=SubmissionStatus.DRAFT)
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
    submitted_at = fields.DatetimeField(null=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "submission"
        indexes = (("kind", "status"), ("station_id", "kind", "year"))


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
    """Every change of state of a submission or a station, with who and when."""

    id = fields.IntField(primary_key=True)
    subject_type = fields.CharField(max_length=16)  # "submission" | "station"
    subject_id = fields.IntField()
    from_status = fields.CharField(max_length=32, null=True)
    to_status = fields.CharField(max_length=32)
    actor_id = fields.BigIntField(null=True)  # None: the system (scheduler)
    reason = fields.TextField(default="")
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "status_transition"
        indexes = (("subject_type", "subject_id"),)


class Announcement(TimestampedModel):
    """公示 of a recognition or key-project result, whose window counts working days (R19)."""

    id = fields.IntField(primary_key=True)
    submission: fields.ForeignKeyRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="announcements", on_delete=fields.CASCADE
    )
    starts_on = fields.DateField()
    ends_on = fields.DateField()
    state = fields.CharEnumField(AnnouncementState, max_length=16, default=AnnouncementState.SCHEDULED)
    created_by = fields.BigIntField()

    class Meta:
        table = "announcement"


class Objection(TimestampedModel):
    id = fields.IntField(primary_key=True)
    announcement: fields.ForeignKeyRelation[Announcement] = fields.ForeignKeyField(
        "models.Announcement", related_name="objections", on_delete=fields.CASCADE
    )
    filed_by = fields.BigIntField()
    text = fields.TextField()
    status = fields.CharEnumField(ObjectionStatus, max_length=16, default=ObjectionStatus.PENDING)
    decided_by = fields.BigIntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.TextField(default="")

    class Meta:
        table = "objection"


class Notice(TimestampedModel):
    """The outbox. The unique key makes a notice impossible to queue twice (SPEC §6)."""

    id = fields.IntField(primary_key=True)
    recipient_id = fields.BigIntField()
    kind = fields.CharField(max_length=48)
    subject = fields.CharField(max_length=64)
    period = fields.CharField(max_length=32)
    text_key = fields.CharField(max_length=64)
    params = fields.JSONField(default=dict)
    due_at = fields.DatetimeField()
    status = fields.CharEnumField(NoticeStatus, max_length=16, default=NoticeStatus.PENDING)
    attempts = fields.SmallIntField(default=0)
    sent_at = fields.DatetimeField(null=True)
    error = fields.CharField(max_length=200, default="")

    class Meta:
        table = "notice"
        unique_together = (("recipient_id", "kind", "subject", "period"),)
        indexes = (("status", "due_at"),)


class AuditLog(Model):
    id = fields.IntField(primary_key=True)
    actor_id = fields.BigIntField()
    action = fields.CharField(max_length=64)
    subject_type = fields.CharField(max_length=16)
    subject_id = fields.IntField(null=True)
    before = fields.JSONField(null=True)
    after = fields.JSONField(null=True)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_log"
        indexes = (("subject_type", "subject_id"),)


class ConversationState(Model):
    """aiogram FSM state and data, keyed by the storage key (see storage.fsm)."""

    key = fields.CharField(max_length=255, primary_key=True)
    state = fields.CharField(max_length=255, null=True)
    data = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation_state"
