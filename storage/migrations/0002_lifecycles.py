"""Life cycles, filing obligations, key-project windows, grades and funding, announcement batches,
inspections, holiday arrangements, hashed invite codes, UTC timestamps.

Written by `tortoise makemigrations`, then fixed by hand where its output would harm a database:

- On SQLite tortoise alters a column by rebuilding its table (create a copy, DROP the original,
  rename). The rebuild loses the table's composite unique constraints and indexes, and with
  foreign keys on, DROP TABLE first deletes every row, which cascades to the rows that reference
  it (contacts of a station, documents of a submission). Changes that leave the stored columns as
  they are (a timestamp column now converting to UTC in Python, a column comment) are therefore
  applied to the migration state only on SQLite (`AlterFieldsKeepTables`).
- `bot_user.id` was written by 0001 as a generated key: tortoise's field writer leaves out
  `generated=False`, so the migration's field and the model's differed and every makemigrations
  run wanted to drop and re-add the primary key. The state is corrected here; on PostgreSQL the
  unused sequence default goes too. On SQLite the column stays an INTEGER PRIMARY KEY (ids are
  always given, never generated).
- announcement, objection and invite_code change shape (a batch with items, an objection against
  an item, a hashed code). Nothing wrote these tables before this migration; it refuses to run if
  one holds rows instead of dropping them.
- tortoise creates a model's CHECK constraints only through AddConstraint, and on SQLite that
  rebuilds the table: the checks of key_project_grade come first, its unique keys after them.
- Operations that need no migration state between them run as one (`Together`): tortoise copies
  the whole state before each operation, which doubled the time to migrate a fresh database.
"""

from copy import deepcopy

from tortoise import fields, migrations
from tortoise.fields import Field
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.migrations.exceptions import IncompatibleStateError

from storage.models import (
    AnnouncementKind,
    AnnouncementState,
    FilingState,
    ObjectionStatus,
    StationState,
    SubmissionStatus,
    UtcDatetimeField,
)


class AlterFieldsKeepTables(ops.TortoiseOperation):
    """AlterField for several fields that never rebuilds a SQLite table: there only the migration
    state changes. Other databases alter in place (a column comment at most).

    For changes that leave the stored columns as they are: a column comment, or a field class
    that converts values in Python. One operation for all of them, because tortoise copies the
    whole migration state for every operation it applies.
    """

    def __init__(self, fields: list[tuple[str, str, Field]]) -> None:
        self.fields = fields

    def describe(self) -> str:
        return f"Alter {len(self.fields)} fields (SQLite tables kept)"

    def state_forward(self, app_label: str, state) -> None:
        for model_name, name, field in self.fields:
            model_state = self.get_model_state(state, app_label, model_name)
            if name not in model_state.fields:
                raise IncompatibleStateError(f"Field {name} is not present on model {app_label}.{model_name}")
            model_state.fields[name] = deepcopy(field)
        state.reload_models({(app_label, model_name) for model_name, _, _ in self.fields})

    async def _alter(self, app_label, from_state, to_state, state_editor) -> None:
        if state_editor is None or state_editor.DIALECT == "sqlite":
            return
        for model_name, name, _ in self.fields:
            await state_editor.alter_field(
                from_state.apps.get_model(f"{app_label}.{model_name}"),
                to_state.apps.get_model(f"{app_label}.{model_name}"),
                name,
            )

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        await self._alter(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        await self._alter(app_label, old_state, new_state, state_editor)


class Together(ops.TortoiseOperation):
    """Operations applied as one, for speed: before each operation it applies, tortoise copies
    the whole migration state (tens of milliseconds with this many models), and every fresh
    database (each PostgreSQL test) pays for it.

    Each operation here reads at most the state before all of them (a table to drop) or the state
    after all of them (a table, column or index to create), so they need no state in between.
    Not reversible: 0002 drops tables of 0001 whose rows it would not restore.
    """

    reversible = False

    def __init__(self, *operations: ops.TortoiseOperation) -> None:
        self.operations = operations

    def describe(self) -> str:
        return "; ".join(operation.describe() for operation in self.operations)

    def state_forward(self, app_label: str, state) -> None:
        for operation in self.operations:
            operation.state_forward(app_label, state)

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        for operation in self.operations:
            if state_editor is not None and state_editor.collect_sql and not operation.reduces_to_sql:
                # `tortoise sqlmigrate`: as tortoise does for an operation on its own
                state_editor.collected_sql.append(f"-- {operation.describe()}: THIS OPERATION CANNOT BE REPRESENTED AS SQL")
                continue
            await operation.database_forward(app_label, old_state, new_state, state_editor)


async def refuse_if_reshaped_tables_hold_rows(apps, schema_editor) -> None:
    for table in ("objection", "announcement", "invite_code"):
        _, rows = await schema_editor.client.execute_query(f'SELECT COUNT(*) AS n FROM "{table}"')
        if rows and rows[0]["n"]:
            raise RuntimeError(
                f"{table} holds {rows[0]['n']} rows; this migration rebuilds it. Move them aside first."
            )


async def drop_bot_user_id_sequence(apps, schema_editor) -> None:
    if schema_editor.DIALECT == "postgres":
        await schema_editor._run_sql(
            'ALTER TABLE "bot_user" ALTER COLUMN "id" DROP DEFAULT; DROP SEQUENCE IF EXISTS "bot_user_id_seq"'
        )


def _timestamp(model: str, name: str, **kwargs) -> tuple[str, str, Field]:
    return (model, name, UtcDatetimeField(**kwargs))


def _created_updated(model: str) -> list[tuple[str, str, Field]]:
    return [
        _timestamp(model, "created_at", auto_now=False, auto_now_add=True),
        _timestamp(model, "updated_at", auto_now=True, auto_now_add=False),
    ]


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        # -- reshaped tables: announcement batches, objections against an item, hashed invite codes
        Together(
            ops.RunPython(refuse_if_reshaped_tables_hold_rows, ops.RunPython.noop),
            ops.DeleteModel(name="Objection"),
            ops.DeleteModel(name="Announcement"),
            ops.DeleteModel(name="InviteCode"),
            ops.CreateModel(
                name="Announcement",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("kind", fields.CharEnumField(description="ESTABLISHMENT: establishment\nKEY_PROJECT: key_project", enum_type=AnnouncementKind, max_length=16)),
                    ("starts_on", fields.DateField()),
                    ("ends_on", fields.DateField()),
                    ("state", fields.CharEnumField(default=AnnouncementState.SCHEDULED, description="SCHEDULED: scheduled\nOPEN: open\nCLOSED: closed", enum_type=AnnouncementState, max_length=16)),
                    ("created_by", fields.BigIntField()),
                ],
                options={"table": "announcement", "app": "models", "indexes": [Index(fields=["state", "ends_on"])], "pk_attr": "id", "table_description": "公示 of recognition or key-project results: one batch, several items (R6, R19)."},
                bases=["TimestampedModel"],
            ),
            ops.CreateModel(
                name="AnnouncementItem",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("announcement", fields.ForeignKeyField("models.Announcement", source_field="announcement_id", db_constraint=True, to_field="id", related_name="items", on_delete=OnDelete.CASCADE)),
                    ("submission", fields.ForeignKeyField("models.Submission", source_field="submission_id", db_constraint=True, to_field="id", related_name="announcement_items", on_delete=OnDelete.RESTRICT)),
                ],
                options={"table": "announcement_item", "app": "models", "unique_together": (("announcement", "submission"),), "pk_attr": "id", "table_description": "One submission announced in a batch."},
                bases=["TimestampedModel"],
            ),
            ops.CreateModel(
                name="Objection",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("item", fields.ForeignKeyField("models.AnnouncementItem", source_field="item_id", db_constraint=True, to_field="id", related_name="objections", on_delete=OnDelete.CASCADE)),
                    ("filed_by", fields.BigIntField()),
                    ("text", fields.TextField(unique=False)),
                    ("evidence_file_id", fields.CharField(null=True, max_length=255)),
                    ("evidence_file_name", fields.CharField(default="", max_length=255)),
                    ("status", fields.CharEnumField(default=ObjectionStatus.PENDING, description="PENDING: pending\nUPHELD: upheld\nDISMISSED: dismissed", enum_type=ObjectionStatus, max_length=16)),
                    ("decided_by", fields.BigIntField(null=True)),
                    ("decided_at", UtcDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                    ("decision_note", fields.TextField(default="", unique=False)),
                ],
                options={"table": "objection", "app": "models", "indexes": [Index(fields=["status", "created_at"])], "pk_attr": "id", "table_description": "异议 against one announced item, from anyone, with an optional evidence file."},
                bases=["TimestampedModel"],
            ),
            ops.CreateModel(
                name="InviteCode",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("code_hash", fields.CharField(unique=True, max_length=64)),
                    ("station", fields.ForeignKeyField("models.Station", source_field="station_id", db_constraint=True, to_field="id", related_name="invites", on_delete=OnDelete.CASCADE)),
                    ("issued_by", fields.BigIntField()),
                    ("expires_at", UtcDatetimeField(auto_now=False, auto_now_add=False)),
                    ("used_by", fields.BigIntField(null=True)),
                    ("used_at", UtcDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ],
                options={"table": "invite_code", "app": "models", "pk_attr": "id", "table_description": "One-time code with which a further contact joins a station."},
                bases=["TimestampedModel"],
            ),
            # -- new tables
            ops.CreateModel(
                name="FilingObligation",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("station", fields.ForeignKeyField("models.Station", source_field="station_id", db_constraint=True, to_field="id", related_name="filing_obligations", on_delete=OnDelete.RESTRICT)),
                    ("year", fields.IntField()),
                    ("due_on", fields.DateField()),
                    ("extended_due_on", fields.DateField(null=True)),
                    ("state", fields.CharEnumField(default=FilingState.NOT_DUE, description="state of the filing obligation: see bot.rules.lifecycle", enum_type=FilingState, max_length=16)),
                    ("submission", fields.OneToOneField("models.Submission", source_field="submission_id", null=True, db_constraint=True, to_field="id", related_name="filing_obligation", on_delete=OnDelete.SET_NULL)),
                ],
                options={"table": "filing_obligation", "app": "models", "unique_together": (("station", "year"),), "indexes": [Index(fields=["state", "due_on"])], "pk_attr": "id", "table_description": "The annual filing (年度备案) a station owes for a year."},
                bases=["TimestampedModel"],
            ),
            ops.CreateModel(
                name="Funding",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("submission", fields.OneToOneField("models.Submission", source_field="submission_id", db_constraint=True, to_field="id", related_name="funding", on_delete=OnDelete.RESTRICT)),
                    ("station", fields.ForeignKeyField("models.Station", source_field="station_id", db_constraint=True, to_field="id", related_name="fundings", on_delete=OnDelete.RESTRICT)),
                    ("level", fields.SmallIntField()),
                    ("amount", fields.DecimalField(max_digits=12, decimal_places=2)),
                    ("paid_on", fields.DateField(null=True)),
                    ("recovery_required", fields.BooleanField(default=False)),
                    ("recovery_amount", fields.DecimalField(null=True, max_digits=12, decimal_places=2)),
                    ("recovery_reason", fields.TextField(default="", unique=False)),
                    ("recovered_on", fields.DateField(null=True)),
                    ("recorded_by", fields.BigIntField()),
                ],
                options={"table": "funding", "app": "models", "pk_attr": "id", "table_description": "资助 of a key project (七(四), R9) and its recovery (追回, 九, R13). Amounts in CNY."},
                bases=["TimestampedModel"],
            ),
            ops.CreateModel(
                name="HolidayArrangement",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("day", fields.DateField(unique=True)),
                    ("is_workday", fields.BooleanField()),
                    ("note", fields.CharField(default="", max_length=100)),
                    ("entered_by", fields.BigIntField(null=True)),
                ],
                options={"table": "holiday_arrangement", "app": "models", "pk_attr": "id", "table_description": "A public holiday or make-up working day (调休) the holiday library does not know."},
                bases=["TimestampedModel"],
            ),
            ops.CreateModel(
                name="Inspection",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("station", fields.ForeignKeyField("models.Station", source_field="station_id", db_constraint=True, to_field="id", related_name="inspections", on_delete=OnDelete.RESTRICT)),
                    ("inspected_on", fields.DateField()),
                    ("finding", fields.TextField(unique=False)),
                    ("inspected_by", fields.BigIntField()),
                ],
                options={"table": "inspection", "app": "models", "indexes": [Index(fields=["station_id", "inspected_on"])], "pk_attr": "id", "table_description": "核查 of a station by the bureau (九, R13)."},
                bases=["TimestampedModel"],
            ),
            ops.CreateModel(
                name="KeyProjectWindow",
                fields=[
                    ("created_at", UtcDatetimeField(auto_now=False, auto_now_add=True)),
                    ("updated_at", UtcDatetimeField(auto_now=True, auto_now_add=False)),
                    ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                    ("year", fields.IntField(unique=True)),
                    ("opens_on", fields.DateField()),
                    ("closes_on", fields.DateField()),
                    ("opened_by", fields.BigIntField()),
                    ("closed_at", UtcDatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ],
                options={"table": "key_project_window", "app": "models", "pk_attr": "id", "table_description": "The application window for the key projects of a year (七(一)), opened by staff."},
                bases=["TimestampedModel"],
            ),
            ops.RunPython(drop_bot_user_id_sequence, ops.RunPython.noop),
            # -- columns added in place (ALTER TABLE ADD COLUMN on every database)
            ops.AddField(model_name="Station", name="deregistered_on", field=fields.DateField(null=True)),
            ops.AddField(model_name="Station", name="judicial_referral_on", field=fields.DateField(null=True)),
            ops.AddField(model_name="Station", name="plaque_returned_on", field=fields.DateField(null=True)),
            ops.AddField(
                model_name="Station",
                name="revocation_reason",
                field=fields.TextField(default="", db_default="", unique=False),
            ),
            ops.AddField(model_name="Station", name="revoked_on", field=fields.DateField(null=True)),
            ops.AddField(
                model_name="StatusTransition",
                name="action",
                field=fields.CharField(default="", db_default="", max_length=32),
            ),
            ops.AddField(
                model_name="StatusTransition",
                name="actor_kind",
                field=fields.CharField(default="", db_default="", max_length=16),
            ),
            ops.AlterModelOptions(
                name="StatusTransition",
                options={"table": "status_transition", "app": "models", "indexes": [Index(fields=["subject_type", "subject_id"])], "pk_attr": "id", "table_description": "Every change of state of a submission, a station or a filing obligation, with who and when."},
            ),
            ops.AddIndex(model_name="Submission", index=Index(fields=["status", "submitted_at"])),
            ops.AddIndex(model_name="Submission", index=Index(fields=["created_by", "kind", "status"])),
        ),
        ops.CreateModel(
            name="KeyProjectGrade",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("year", fields.IntField()),
                ("level", fields.SmallIntField()),
                ("slot", fields.SmallIntField()),
                ("submission", fields.ForeignKeyField("models.Submission", source_field="submission_id", db_constraint=True, to_field="id", related_name="grades", on_delete=OnDelete.CASCADE)),
                ("graded_by", fields.BigIntField(null=True)),
                ("graded_at", UtcDatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "key_project_grade", "app": "models", "pk_attr": "id", "table_description": "The place a graded key project holds among the ten of its level in its year (R8, 七(二))."},
            bases=["Model"],
        ),
        ops.AddConstraint(
            model_name="KeyProjectGrade",
            constraint=CheckConstraint(check="level BETWEEN 1 AND 3", name="key_project_grade_level"),
        ),
        ops.AddConstraint(
            model_name="KeyProjectGrade",
            constraint=CheckConstraint(check="slot BETWEEN 1 AND 10", name="key_project_grade_slot"),
        ),
        ops.AddConstraint(
            model_name="KeyProjectGrade",
            constraint=UniqueConstraint(fields=("year", "level", "slot")),
        ),
        ops.AddConstraint(
            model_name="KeyProjectGrade",
            constraint=UniqueConstraint(fields=("submission",)),
        ),
        AlterFieldsKeepTables(
            [
                # bot_user.id: given (the Telegram user id), never generated
                ("BotUser", "id", fields.BigIntField(primary_key=True, generated=False, unique=True, db_index=True)),
                # life-cycle states: a fixed column description, so a new state alters no column
                ("Station", "state", fields.CharEnumField(default=StationState.APPLYING, description="state of the station: see bot.rules.lifecycle", enum_type=StationState, max_length=32)),
                ("Submission", "status", fields.CharEnumField(default=SubmissionStatus.DRAFT, description="state of the submission's kind: see bot.rules.lifecycle", enum_type=SubmissionStatus, max_length=24)),
                # every timestamp column converts to UTC when written (storage.models.UtcDatetimeField)
                _timestamp("AuditLog", "at", auto_now=False, auto_now_add=True),
                *_created_updated("BotUser"),
                _timestamp("BotUser", "unreachable_since", null=True, auto_now=False, auto_now_add=False),
                *_created_updated("Contact"),
                _timestamp("ConversationState", "updated_at", auto_now=True, auto_now_add=False),
                *_created_updated("Document"),
                *_created_updated("Notice"),
                _timestamp("Notice", "due_at", auto_now=False, auto_now_add=False),
                _timestamp("Notice", "sent_at", null=True, auto_now=False, auto_now_add=False),
                *_created_updated("Staff"),
                *_created_updated("Station"),
                _timestamp("StatusTransition", "at", auto_now=False, auto_now_add=True),
                *_created_updated("Submission"),
                _timestamp("Submission", "decided_at", null=True, auto_now=False, auto_now_add=False),
                _timestamp("Submission", "submitted_at", null=True, auto_now=False, auto_now_add=False),
                *_created_updated("Unit"),
            ]
        ),
    ]
