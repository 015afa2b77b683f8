"""五 (R15–R17) on an annual filing, as bot/rules/filing.py evaluates it: which requirements apply
to which filing year, and what each shortfall names."""

from __future__ import annotations

from datetime import date

from bot.rules.filing import CHECKLIST, SCHOOL_CHECKLIST, Shortfall, filed_on_time, figures_owed, filing_shortfalls

ALL_YES = {item: True for item in (*CHECKLIST, *SCHOOL_CHECKLIST)}
RECOGNISED = date(2025, 6, 1)


def shortfalls(year: int, *, school: bool = False, projects: int = 0, trained: int = 0, teachers: int | None = None,
               learners: int | None = None, checklist: dict[str, bool] = ALL_YES) -> list[Shortfall]:
    return filing_shortfalls(year=year, recognised_on=RECOGNISED, school_enterprise=school, major_projects=projects,
                             skilled_trained=trained, teachers_co_trained=teachers, learners_qualified=learners,
                             checklist=checklist)


def test_a_station_one_year_old_owes_the_checklist_but_not_yet_the_figures() -> None:
    # Filing for 2026, a year after its recognition in 2025: 五(二), 五(三) start two years after.
    assert not figures_owed(2026, RECOGNISED)
    assert shortfalls(2026, school=True, teachers=0, learners=0) == []
    missing = {**ALL_YES, "apprentice_files": False, "mentor_rewards": False}
    assert shortfalls(2026, checklist=missing) == [
        Shortfall("R17", "五(一)", "apprentice_files"),
        Shortfall("R17", "五(一)", "mentor_rewards"),
    ]


def test_the_checklist_applies_from_the_founding_year() -> None:
    assert shortfalls(2025, checklist={**ALL_YES, "management_rules": False}) == [Shortfall("R17", "五(一)", "management_rules")]


def test_a_station_three_years_old_owes_r15() -> None:
    # 2027 is the year of its second anniversary (2025 + 2): the figures are owed from then on.
    assert figures_owed(2027, RECOGNISED) and figures_owed(2028, RECOGNISED)
    assert shortfalls(2028, projects=0, trained=9) == [
        Shortfall("R15", "五(二)", "major_projects", required=1, reported=0),
        Shortfall("R15", "五(二)", "skilled_trained", required=10, reported=9),
    ]
    assert shortfalls(2027, projects=1, trained=10) == []
    # Not school-enterprise: 五(三) and the cooperation mechanism are not asked of it.
    assert shortfalls(2028, projects=2, trained=12, checklist={item: True for item in CHECKLIST}) == []


def test_a_school_enterprise_station_owes_r16_and_the_cooperation_mechanism() -> None:
    found = shortfalls(2028, school=True, projects=1, trained=10, teachers=1, learners=5,
                       checklist={item: True for item in CHECKLIST})
    assert found == [
        Shortfall("R17", "五(一)", "cooperation_mechanism"),
        Shortfall("R16", "五(三)", "teachers_co_trained", required=2, reported=1),
    ]
    assert shortfalls(2028, school=True, projects=1, trained=10, teachers=2, learners=4) == [
        Shortfall("R16", "五(三)", "learners_qualified", required=5, reported=4),
    ]
    assert shortfalls(2028, school=True, projects=1, trained=10, teachers=2, learners=5) == []


def test_a_station_without_a_recognition_date_owes_the_figures() -> None:
    assert figures_owed(2026, None)


def test_on_time_up_to_the_deadline_while_due_or_extended() -> None:
    deadline = date(2028, 2, 29)
    assert filed_on_time("due", deadline, date(2028, 2, 29))
    assert filed_on_time(None, deadline, date(2028, 2, 29))
    assert not filed_on_time("due", deadline, date(2028, 3, 1))
    assert filed_on_time("extended", date(2028, 8, 31), date(2028, 8, 31))
    assert not filed_on_time("overdue", deadline, date(2028, 2, 1))


def test_a_filing_reason_is_written_and_read_in_one_place() -> None:
    from bot.rules.filing import filing_reason, filing_reason_words  # noqa: PLC0415

    assert filing_reason(2025) == "filing:2025"
    assert filing_reason_words(filing_reason(2025)) == {"reason_key": "status_change.reason.filing", "year": "2025"}
    since = filing_reason(2025, date(2026, 3, 1))
    assert filing_reason_words(since) == {"reason_key": "status_change.reason.filing_overdue_since", "year": "2025",
                                          "since": "2026-03-01"}
    assert filing_reason_words("材料不全") is None  # a person's reason is shown as typed
