"""R8's caps on graded key projects, kept by the database: ten places per level and year.

A graded key project holds a place: a `key_project_grade` row whose slot (1..10, a CHECK) is
unique per (year, level). Taking a place is an INSERT of the lowest free slot; when another grader
took that slot first the unique key refuses the insert and the next free slot is tried. When no
slot is free the grade is refused with the counts. At most 10 per level and 3 levels: at most 30 a
year, however many staff grade at the same moment.

`storage.transitions.apply_transition` takes the place when it applies "grade" and gives it back
when a project leaves the graded path; call `take_grade_slot` directly only inside a transaction
that also records the transition.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage.models import KEY_PROJECT_LEVELS, KEY_PROJECT_SLOTS_PER_LEVEL, KeyProjectGrade

MAX_PER_YEAR = KEY_PROJECT_SLOTS_PER_LEVEL * len(KEY_PROJECT_LEVELS)  # 七(二): 30


class GradeCapReached(Exception):
    """All places of the level are taken for the year (R8)."""

    def __init__(self, year: int, level: int, counts: dict[int, int]) -> None:
        self.year = year
        self.level = level
        self.counts = counts  # level -> places taken, every level
        self.total = sum(counts.values())
        super().__init__(
            f"{year}: level {level} has {counts.get(level, 0)} of {KEY_PROJECT_SLOTS_PER_LEVEL} places taken"
            f" ({self.total} of {MAX_PER_YEAR} in the year)"
        )


class AlreadyGraded(Exception):
    """The key project holds a place already."""


async def grade_counts(year: int) -> dict[int, int]:
    """Places taken per level (1, 2, 3) in `year`."""
    levels = await KeyProjectGrade.filter(year=year).values_list("level", flat=True)
    return {level: sum(1 for taken in levels if taken == level) for level in KEY_PROJECT_LEVELS}


async def take_grade_slot(
    submission_id: int, year: int, level: int, *, graded_by: int | None, now: datetime
) -> KeyProjectGrade:
    """Take the lowest free place of `level` in `year` for the key project; retried when another
    grader takes the same slot first. Raises GradeCapReached when the level is full, and
    AlreadyGraded when the project holds a place already."""
    if level not in KEY_PROJECT_LEVELS:
        raise ValueError(f"key project level must be one of {KEY_PROJECT_LEVELS}, not {level!r}")
    # Each failed attempt means another grader took a slot: with ten slots, eleven lost races
    # mean the level was full.
    for _ in range(KEY_PROJECT_SLOTS_PER_LEVEL + 1):
        taken = set(await KeyProjectGrade.filter(year=year, level=level).values_list("slot", flat=True))
        free = [slot for slot in range(1, KEY_PROJECT_SLOTS_PER_LEVEL + 1) if slot not in taken]
        if not free:
            raise GradeCapReached(year, level, await grade_counts(year))
        try:
            # A savepoint: on PostgreSQL a refused insert would otherwise abort the caller's transaction.
            async with in_transaction():
                return await KeyProjectGrade.create(
                    year=year, level=level, slot=free[0], submission_id=submission_id, graded_by=graded_by, graded_at=now
                )
        except IntegrityError:
            if await KeyProjectGrade.filter(submission_id=submission_id).exists():
                raise AlreadyGraded(f"key project {submission_id} holds a place already") from None
    raise GradeCapReached(year, level, await grade_counts(year))


async def release_grade_slot(submission_id: int) -> int:
    """Give the project's place back (it was disqualified, or an objection was upheld)."""
    return await KeyProjectGrade.filter(submission_id=submission_id).delete()

