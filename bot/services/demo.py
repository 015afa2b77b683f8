"""A demo city for newcomers: `seed_demo(now, settings)` fills an empty database with about forty
stations recognised since 2017 and everything a bureau officer meets in a year of them.

Every name says it is fake (演示·…), and the numbers are fake yet valid: USCCs and ID numbers
carry correct check characters, contacts have Telegram ids in the reserved range 880000xxx.
What the city holds, relative to `now` (the bureau's today):

- stations recognised 2017..today, a quarter of them school-enterprise (co-built with a college),
  each with its unit, a contact and the recognised establishment declaration as the form stores
  it (personal numbers sealed with the settings' key);
- filing obligations for every year owed: most filed on time, some late, some after an approved
  extension, one overdue station, one revocation candidate, one revoked and one deregistered;
- key projects of each year graded at each level and funded (R9 amounts), some not selected;
- an open 公示 of this year's graded key projects with a pending objection;
- waiting for staff: a declaration submitted (with its documents) and one in expert review, a key
  project submitted and one in review, an extension request and a deregistration request.

State changes that matter now go through `apply_transition` (so history and audit rows exist);
settled history is bulk-created. Deterministic: the same `now` gives the same city. The notices
those transitions queued are marked sent: they belong to the past of the city, not to the demo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from stdnum.cn import ric, uscc
from tortoise.transactions import in_transaction

from bot.crypto import Vault, vault_for
from bot.rules.decisions import extended_due_on, funding_for
from bot.rules.lifecycle import STAMPED_FORM, Actor, filing_due_on
from bot.settings import Settings
from storage import announcements
from storage.models import (
    AnnouncementKind,
    BotUser,
    Contact,
    ContactRole,
    Document,
    EstablishmentMode,
    FilingObligation,
    FilingState,
    Funding,
    KeyProjectGrade,
    KeyProjectWindow,
    Notice,
    NoticeStatus,
    ReferenceCounter,
    Station,
    StationState,
    StatusTransition,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
)
from storage.transitions import apply_transition

DEMO_STAFF_ID = 10001  # the terminal chat's own user (bot.console.CONSOLE_USER_ID): `make demo` makes it staff
CONTACT_BASE = 880000100  # demo contacts are 880000100, 880000101, ... (a range no real account uses)
PUBLIC_OBJECTOR = 880000999
FIRST_YEAR = 2017
STATIONS = 40
SEED = 2017

TRADES = (
    ("精密模具", "模具工"), ("数控加工", "数控车工"), ("工业机器人", "工业机器人系统运维员"), ("电子装联", "电子装接工"),
    ("汽车维修", "汽车维修工"), ("智能制造", "多工序数控机床操作调整工"), ("焊接技术", "焊工"), ("电梯安装维修", "电梯安装维修工"),
    ("中式烹调", "中式烹调师"), ("美容美发", "美发师"), ("网络通信", "信息通信网络运行管理员"), ("钟表制造", "钟表维修工"),
    ("珠宝首饰", "贵金属首饰制作工"), ("新能源汽车", "汽车维修工"), ("光电显示", "液晶显示器件制造工"), ("无人机", "无人机驾驶员"),
    ("集成电路", "半导体分立器件和集成电路装调工"), ("建筑装饰", "装饰装修工"), ("轨道交通", "城市轨道交通列车司机"), ("医疗器械", "医疗器械装配工"),
)
DISTRICTS = ("南山区", "福田区", "宝安区", "龙岗区", "龙华区", "光明区", "坪山区", "罗湖区")
COLLEGES = ("演示·深圳技师学院", "演示·深圳第二高级技工学校", "演示·深圳职业技术大学", "演示·深圳信息职业技术学院")
SURNAMES = "陈李张王刘黄林吴郑周何杨赵罗许朱梁谢"
GIVEN = ("志强", "建华", "海涛", "伟明", "晓东", "丽娟", "国平", "振宇", "秀英", "永红", "俊杰", "文斌", "春生", "丹丹")
LEVELS = ("technician", "senior", "special_grade", "chief")
UNIT_TYPES = (UnitType.ENTERPRISE, UnitType.ENTERPRISE, UnitType.ENTERPRISE, UnitType.GROUP, UnitType.ASSOCIATION,
              UnitType.INSTITUTION)
CATEGORIES = ("advanced_training", "skill_competition", "occupational_standards", "curriculum")


class AlreadySeeded(Exception):
    """The database holds stations already: the demo city goes into an empty database only."""


@dataclass
class Seeded:
    """What `seed_demo` made, for the command to print."""

    stations: int = 0
    units: int = 0
    contacts: int = 0
    submissions: dict[str, int] = field(default_factory=dict)
    filings: dict[str, int] = field(default_factory=dict)
    fundings: int = 0
    announcements: int = 0
    objections: int = 0
    staff_id: int = DEMO_STAFF_ID
    contact_ids: tuple[int, int] = (0, 0)
    pending: dict[str, str] = field(default_factory=dict)  # what waits for staff: label -> reference


def demo_uscc(n: int) -> str:
    body = f"91440300MA5D{n:05d}"
    return body + uscc.calc_check_digit(body)


def demo_resident_id(n: int, born: date) -> str:
    body = f"440301{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _at(day: date, hour: int = 2) -> datetime:
    """A moment of a local working day, in UTC (10:00 in Shenzhen by default)."""
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)


def _upload(name: str, key: str) -> dict[str, Any]:
    return {"file_id": f"demo-file-{key}", "file_unique_id": f"demo-u-{key}", "file_name": name,
            "file_size": 120_000, "mime_type": "application/pdf"}


class _City:
    def __init__(self, now: datetime, settings: Settings) -> None:
        self.now = now
        self.today = now.astimezone(settings.tz).date()
        self.vault: Vault = vault_for(settings)
        self.rng = random.Random(SEED)
        self.serials: dict[tuple[str, int], int] = {}
        self.made = Seeded()
        self.person = 0

    # -- small builders ---------------------------------------------------------------------

    def reference(self, prefix: str, year: int) -> str:
        serial = self.serials.get((prefix, year), 0) + 1
        self.serials[(prefix, year)] = serial
        return f"{prefix}-{year}-{serial:04d}"

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def resident_id(self, age: int) -> str:
        self.person += 1
        born = date(self.today.year - age, self.rng.randint(1, 12), self.rng.randint(1, 28))
        return demo_resident_id(self.person, born)

    def mobile(self) -> str:
        return f"139{self.rng.randint(0, 99_999_999):08d}"

    def declaration_answers(self, n: int, unit_name: str, unit_type: UnitType, station_name: str, trade: tuple[str, str],
                            district: str, partner: str, college: bool) -> dict[str, Any]:
        field_name, occupation = trade
        mentors = []
        for m in range(3):
            level = LEVELS[(n + m) % len(LEVELS)]
            mentors.append({
                "name": self.name(), "id_number": self.vault.seal(self.resident_id(self.rng.randint(32, 55))),
                "occupation": occupation, "level": level, "certificate_kind": "qualification",
                "certificate_no": f"S{self.rng.randint(10**9, 10**10 - 1)}", "education": "technical", "employment": "own",
            })
        answers: dict[str, Any] = {
            "unit_name": unit_name, "uscc": demo_uscc(n), "unit_type": unit_type.value,
            "legal_rep": self.name(), "address": f"深圳市{district}演示路{n + 1}号", "main_field": f"{field_name}产品研发与生产",
            "employees": self.rng.randint(80, 2000), "mode": "co_built" if partner else "self",
            "station_name": station_name, "head_name": self.name(),
            "head_id_number": self.vault.seal(self.resident_id(self.rng.randint(35, 55))),
            "head_mobile": self.vault.seal(self.mobile()), "head_title": "技术总监", "contact_name": self.name(),
            "contact_mobile": self.vault.seal(self.mobile()), "mentors": mentors,
            "mgmt_ok": "yes", "mgmt_desc": "建立了工作站管理制度、带徒培养制度和考核激励办法。",
            "equipment_ok": "yes", "equipment_desc": f"配备{field_name}实训设备30余台套，满足研修和带徒需要。",
            "work_conditions_ok": "yes", "work_conditions_desc": "设有独立的研修教室和实训场地共400平方米。",
            "project_ok": "yes", "project_desc": f"承担{field_name}关键工艺技术攻关项目，带动技能人才培养。",
            "funds_ok": "yes", "funds_amount": str(self.rng.choice((200_000, 300_000, 500_000))),
            "funds_desc": "单位每年安排专项经费用于工作站建设和人才培养。",
            "report_mode": "texts",
            "report_goals": "三年内培养高级技师和技师30名，攻克关键工艺难题5项。",
            "report_plan": "分年度制定研修计划，每季度开展一次技术攻关活动。",
            "report_steps": "第一年建章立制，第二年开展攻关，第三年总结推广。",
            "report_measures": "实行导师带徒责任制，并将成果纳入绩效考核。",
            "report_resources": "整合单位实训资源和合作院校师资力量。",
            "report_management": "由技术总监负责工作站日常管理和经费使用。",
        }
        if partner:
            answers["partner_name"] = partner
            answers["partner_is_college"] = "yes" if college else "no"
        return answers

    def filing_answers(self, school: bool, *, weak: bool = False) -> dict[str, Any]:
        answers: dict[str, Any] = {
            "major_projects": 0 if weak else self.rng.randint(1, 4),
            "skilled_trained": self.rng.randint(3, 8) if weak else self.rng.randint(10, 40),
            "competitions": 1, "competitions_desc": "组织参加市级职业技能竞赛。",
            "funds_spent": str(self.rng.randint(5, 40) * 10_000),
            "management_rules": "yes", "apprenticeship_plan": "yes", "cooperation_plan": "no" if weak else "yes",
            "apprentice_files": "yes", "mentor_rewards": "yes",
        }
        if answers["major_projects"]:
            answers["major_projects_list"] = "关键工序自动化改造；高精度检测工艺攻关。"
        if school:
            answers.update(teachers_co_trained=1 if weak else 2, learners_qualified=self.rng.randint(5, 12),
                           cooperation_mechanism="yes")
        return answers

    def key_project_answers(self, project_name: str, category: str) -> dict[str, Any]:
        return {
            "category": category, "project_name": project_name,
            "goal": "培养技师和高级技师20名，形成可推广的培训课程。", "task_plan": "分三个阶段实施，每阶段设置考核节点。",
            "teachers": "由3名高级技师和合作院校2名教师组成师资团队。", "equipment": "使用工作站现有实训设备和仿真软件。",
            "matching_funds": "100000", "management": "实行项目负责人制，经费专款专用。",
            "cooperation": "与合作院校共同开发课程并组织实训。", "participants_count": 25,
            "participants_desc": "本单位及合作院校一线技术骨干。", "trained_count": 20, "problems_solved": 3,
            "standards_courses": "开发培训课程2门。", "last_year_basis": "上年度已完成相关课程的前期调研和试点。",
            "_docs": {"kp_statement": [_upload("申报说明.pdf", f"kp-{project_name}")]},
        }


async def seed_demo(now: datetime, settings: Settings) -> Seeded:
    """Fill an empty database with the demo city (see the module docstring); raises AlreadySeeded
    when a station exists, having written nothing."""
    if await Station.exists():
        raise AlreadySeeded(f"the database already holds {await Station.all().count()} stations")
    city = _City(now, settings)
    async with in_transaction():
        await _seed(city)
    # Whatever the transitions queued belongs to the city's past: never sent to the fake contacts.
    await Notice.filter(status=NoticeStatus.PENDING).update(status=NoticeStatus.SENT, sent_at=now)
    made = city.made
    made.stations = await Station.all().count()
    made.units = await Unit.all().count()
    made.contacts = await Contact.all().count()
    ids = await Contact.all().values_list("user_id", flat=True)
    made.contact_ids = (min(ids), max(ids))
    for kind in SubmissionKind:
        made.submissions[kind.value] = await Submission.filter(kind=kind).count()
    for state in FilingState:
        n = await FilingObligation.filter(state=state).count()
        if n:
            made.filings[state.value] = n
    made.fundings = await Funding.all().count()
    return made


async def _seed(city: _City) -> None:
    today, rng = city.today, city.rng
    last = today.year
    # The latest year whose filing deadline (end of February) has passed; the year after it may still be due.
    closed_year = today.year - 1 if today > filing_due_on(today.year - 1) else today.year - 2
    stations: list[Station] = []
    contacts: list[int] = []
    for n in range(STATIONS):
        year = FIRST_YEAR + n * (last - FIRST_YEAR + 1) // STATIONS
        recognised_on = date(year, rng.randint(3, 11), rng.randint(1, 28))
        if recognised_on >= today:
            recognised_on = today - timedelta(days=30 + n)
        trade = TRADES[n % len(TRADES)]
        district = DISTRICTS[n % len(DISTRICTS)]
        college = n % 4 == 0
        partner = COLLEGES[n % len(COLLEGES)] if college else ("演示·深圳市职业技能鉴定协会" if n % 9 == 5 else "")
        unit_type = UNIT_TYPES[n % len(UNIT_TYPES)]
        prefix = "演示·" + district[:2] + trade[0]
        unit_name = {UnitType.ASSOCIATION: f"{prefix}行业协会", UnitType.INSTITUTION: f"{prefix}研究院",
                     UnitType.GROUP: f"{prefix}集团有限公司"}.get(unit_type, f"{prefix}有限公司")
        station_name = f"{prefix}技师工作站"
        answers = city.declaration_answers(n, unit_name, unit_type, station_name, trade, district, partner, college)
        unit = await Unit.create(name=unit_name, uscc=answers["uscc"], unit_type=unit_type,
                                 legal_representative=answers["legal_rep"], address=answers["address"],
                                 main_field=answers["main_field"], employees=answers["employees"])
        station = await Station.create(
            unit=unit, name=station_name, mode=EstablishmentMode.CO_BUILT if partner else EstablishmentMode.SELF,
            partner_name=partner, school_enterprise=college, recognised_on=recognised_on, state=StationState.ACTIVE,
        )
        contact_id = CONTACT_BASE + n
        user, _ = await BotUser.get_or_create(id=contact_id)
        await Contact.create(user=user, station=station, role=ContactRole.APPLICANT)
        submitted = recognised_on - timedelta(days=rng.randint(90, 150))
        declaration = await Submission.create(
            kind=SubmissionKind.ESTABLISHMENT, status=SubmissionStatus.RECOGNISED, unit=unit, station=station,
            created_by=contact_id, year=submitted.year, answers=answers,
            reference=city.reference("SZJS", submitted.year), submitted_at=_at(submitted), decided_at=_at(recognised_on),
        )
        await StatusTransition.bulk_create([
            StatusTransition(subject_type="station", subject_id=station.id, from_status=None, to_status="applying",
                             actor_id=contact_id, actor_kind="contact", at=_at(submitted)),
            StatusTransition(subject_type="station", subject_id=station.id, action="recognise", from_status="applying",
                             to_status="active", actor_id=DEMO_STAFF_ID, actor_kind="staff", at=_at(recognised_on)),
            *[StatusTransition(subject_type="submission", subject_id=declaration.id, action=action, from_status=a,
                               to_status=b, actor_id=contact_id if action == "submit" else DEMO_STAFF_ID,
                               actor_kind="contact" if action == "submit" else "staff", at=_at(day))
              for action, a, b, day in (
                  ("submit", "draft", "submitted", submitted),
                  ("accept_for_review", "submitted", "under_review", submitted + timedelta(days=10)),
                  ("record_review_pass", "under_review", "approved", recognised_on - timedelta(days=30)),
                  ("announce", "approved", "announced", recognised_on - timedelta(days=14)),
                  ("recognise", "announced", "recognised", recognised_on))],
        ])
        stations.append(station)
        contacts.append(contact_id)

    # The roles some stations play (indexes into the older stations, recognised before closed_year).
    older = [s for s in stations if s.recognised_on and s.recognised_on.year < closed_year - 1]
    candidate, overdue, extended, deregistering, revoked, deregistered, extension_asker, late_recent = (
        older[i] for i in (3, 7, 11, 15, 1, 5, 9, 13))
    await _filings(city, stations, closed_year, candidate=candidate, missing={overdue.id, extension_asker.id},
                   extended={extended.id, overdue.id}, skip={revoked.id, deregistered.id}, late_recent=late_recent)
    special = {s.id for s in (candidate, overdue, extended, deregistering, revoked, deregistered, extension_asker)}
    await _key_projects(city, [s for s in stations[:30] if s.id not in special])
    await _ended_stations(city, revoked, deregistered)
    await _station_moves(city, candidate, overdue, extension_asker)
    await _pending(city, stations, extension_asker, deregistering, contacts)
    # One contact blocked the bot: the digest lists them.
    await BotUser.filter(id=CONTACT_BASE + 2).update(reachable=False, unreachable_since=city.now - timedelta(days=12))
    await ReferenceCounter.bulk_create([ReferenceCounter(prefix=p, year=y, last_serial=s) for (p, y), s in city.serials.items()])


async def _filings(city: _City, stations: list[Station], closed_year: int, *, candidate: Station, missing: set[int],
                   extended: set[int], skip: set[int], late_recent: Station) -> None:
    """Every owed year's obligation: filed on time mostly, some late or after an extension; the
    candidate has filed nothing for two years, the `missing` stations nothing for the last closed
    one (the `extended` among them after an approved extension)."""
    today, rng = city.today, city.rng
    obligations: list[FilingObligation] = []
    met: list[tuple[str | None, FilingObligation]] = []  # filed: the filing's key, the obligation
    filings: list[Submission] = []
    for station in stations:
        if station.id in skip or station.recognised_on is None:
            continue
        for year in range(station.recognised_on.year, today.year):
            due = filing_due_on(year)
            unfiled = (station is candidate and year >= closed_year - 1) or (station.id in missing and year == closed_year)
            is_extended = station.id in extended and year == closed_year
            ext_due = extended_due_on(due, 6) if is_extended else None
            if year > closed_year:  # still within February: most have not filed yet
                unfiled = station.id % 3 != 0
            if unfiled or (is_extended and (ext_due or due) >= today):
                deadline = ext_due or due
                state = FilingState.OVERDUE if deadline < today else (FilingState.EXTENDED if ext_due else FilingState.DUE)
                obligations.append(FilingObligation(station=station, year=year, due_on=due, extended_due_on=ext_due,
                                                    state=state))
                continue
            recent = station is late_recent and year == closed_year
            if recent:  # filed late, an hour ago: the digest's new filings and its shortfalls
                filed_at = city.now - timedelta(hours=1)
            elif is_extended:
                filed_at = _at(due + timedelta(days=rng.randint(60, 150)))
            elif station.id % 5 == 2 and year < closed_year:
                filed_at = _at(due + timedelta(days=rng.randint(10, 90)))
            else:
                filed_at = _at(due - timedelta(days=rng.randint(3, 50)))
            filed_at = min(filed_at, city.now - timedelta(hours=1))
            on_time = filed_at.date() <= (ext_due or due)
            submission = Submission(
                kind=SubmissionKind.ANNUAL_FILING, status=SubmissionStatus.SUBMITTED, unit_id=station.unit_id,
                station=station, created_by=CONTACT_BASE + stations.index(station), year=year,
                answers=city.filing_answers(station.school_enterprise, weak=recent),
                reference=city.reference("SZBA", filed_at.year), uniqueness_key=f"annual_filing:{station.id}:{year}",
                submitted_at=filed_at,
            )
            filings.append(submission)
            met.append((submission.uniqueness_key, FilingObligation(
                station=station, year=year, due_on=due, extended_due_on=ext_due,
                state=FilingState.FILED_ON_TIME if on_time else FilingState.FILED_LATE,
            )))
    await Submission.bulk_create(filings)
    saved = dict(await Submission.filter(kind=SubmissionKind.ANNUAL_FILING).values_list("uniqueness_key", "id"))
    for key, obligation in met:
        obligation.submission_id = saved[key]
    await FilingObligation.bulk_create(obligations + [o for _, o in met])
    # The extensions approved for the last closed year, as staff left them.
    asked = date(closed_year + 1, 2, 10)
    for station in stations:
        if station.id in extended:
            await Submission.create(
                kind=SubmissionKind.EXTENSION, status=SubmissionStatus.APPROVED, unit_id=station.unit_id, station=station,
                created_by=CONTACT_BASE + stations.index(station), year=closed_year,
                reference=city.reference("SZYQ", asked.year), uniqueness_key=f"extension:{station.id}:{closed_year}",
                answers={"grounds": "production_transformation", "months": 6,
                         "explanation": "生产线整体转型升级，年度资料需重新整理",
                         "_docs": {"written_request": [_upload("延期备案申请.pdf", f"ext-{station.id}-{closed_year}")]}},
                submitted_at=_at(asked), decided_at=_at(asked + timedelta(days=7)),
                due_on=extended_due_on(filing_due_on(closed_year), 6),
            )


async def _key_projects(city: _City, stations: list[Station]) -> None:
    """Each year since 2019: a few stations' key projects graded 一级/二级/三级 and funded, one not selected."""
    rng = city.rng
    for year in range(2019, city.today.year):
        await KeyProjectWindow.create(year=year, opens_on=date(year, 4, 1), closes_on=date(year, 5, 31), opened_by=DEMO_STAFF_ID)
        eligible = [s for s in stations if s.recognised_on and s.recognised_on.year < year]
        chosen = rng.sample(eligible, min(4, len(eligible)))
        for place, station in enumerate(chosen):
            level = (1, 2, 3, 0)[place]
            submitted = date(year, 5, rng.randint(5, 28))
            name = f"{station.name.removeprefix('演示·').removesuffix('技师工作站')}{year}年度技能提升项目"
            status = SubmissionStatus.FUNDED if level else SubmissionStatus.NOT_SELECTED
            project = await Submission.create(
                kind=SubmissionKind.KEY_PROJECT, status=status, unit_id=station.unit_id, station=station,
                created_by=await _contact_of(station), year=year,
                answers=city.key_project_answers(name, rng.choice(CATEGORIES)),
                reference=city.reference("SZXM", year), uniqueness_key=f"key_project:{station.id}:{year}",
                level=level or None, submitted_at=_at(submitted), decided_at=_at(date(year, 9, 15)),
            )
            if level:
                await KeyProjectGrade.create(year=year, level=level, slot=1, submission=project, graded_by=DEMO_STAFF_ID,
                                             graded_at=_at(date(year, 8, 20)))
                await Funding.create(submission=project, station=station, level=level, amount=funding_for(level),
                                     paid_on=date(year, 11, 20), recorded_by=DEMO_STAFF_ID)


async def _contact_of(station: Station) -> int:
    return await Contact.filter(station=station).order_by("id").first().values_list("user_id", flat=True)


async def _ended_stations(city: _City, revoked: Station, deregistered: Station) -> None:
    """One station revoked for not filing, one deregistered on request, long ago, through the life cycle."""
    assert revoked.recognised_on is not None and deregistered.recognised_on is not None
    year = revoked.recognised_on.year + 1
    flagged = date(year + 1, 9, 10)
    at = _at(flagged)
    await FilingObligation.create(station=revoked, year=year, due_on=filing_due_on(year), state=FilingState.OVERDUE)
    await apply_transition("station", revoked.id, "mark_overdue", actor_id=None, actor=Actor.SYSTEM, now=_at(date(year + 1, 3, 1)))
    await apply_transition("station", revoked.id, "flag_revocation", actor_id=None, actor=Actor.SYSTEM, now=at,
                           reason=f"{year}年度备案逾期6个月以上")
    await apply_transition("station", revoked.id, "revoke", actor_id=DEMO_STAFF_ID, actor=Actor.STAFF,
                           now=at + timedelta(days=30), reason="无正当理由不参加年度备案逾期6个月以上",
                           changes={"revoked_on": flagged + timedelta(days=30), "revocation_reason": "no_filing"})
    asked = date(deregistered.recognised_on.year + 2, 6, 15)
    contact_id = await _contact_of(deregistered)
    await apply_transition("station", deregistered.id, "request_deregistration", actor_id=contact_id, actor=Actor.CONTACT,
                           now=_at(asked))
    request = await Submission.create(
        kind=SubmissionKind.DEREGISTRATION, status=SubmissionStatus.SUBMITTED, unit_id=deregistered.unit_id,
        station=deregistered, created_by=contact_id, year=asked.year, reference=city.reference("SZZX", asked.year),
        uniqueness_key=f"deregistration:{deregistered.id}", submitted_at=_at(asked),
        answers={"explanation": "企业搬迁出深圳，不再开展技师工作站工作", "plaque_return": "yes",
                 "_docs": {"written_request": [_upload("注销申请.pdf", f"dereg-{deregistered.id}")]}},
    )
    decided = _at(asked + timedelta(days=20))
    await apply_transition("submission", request.id, "approve", actor_id=DEMO_STAFF_ID, actor=Actor.STAFF, now=decided)
    await apply_transition("station", deregistered.id, "deregister", actor_id=DEMO_STAFF_ID, actor=Actor.STAFF, now=decided,
                           changes={"deregistered_on": decided.date(), "plaque_returned_on": decided.date()})


async def _station_moves(city: _City, candidate: Station, *overdue: Station) -> None:
    """The overdue stations and the revocation candidate, moved as the scheduler moves them."""
    for station in (candidate, *overdue):
        first = await FilingObligation.filter(station=station, state=FilingState.OVERDUE).order_by("year").first()
        if first is None:
            continue
        deadline = first.extended_due_on or first.due_on
        await apply_transition("station", station.id, "mark_overdue", actor_id=None, actor=Actor.SYSTEM,
                               now=_at(deadline + timedelta(days=1)))
    first = await FilingObligation.filter(station=candidate, state=FilingState.OVERDUE).order_by("year").first()
    if first is not None:
        await apply_transition("station", candidate.id, "flag_revocation", actor_id=None, actor=Actor.SYSTEM,
                               now=_at(first.due_on + timedelta(days=200)),
                               reason=f"{first.year}年度备案逾期6个月以上")


async def _pending(city: _City, stations: list[Station], extension_asker: Station, deregistering: Station,
                   contacts: list[int]) -> None:
    """What waits for staff today: declarations, key projects, an extension, a deregistration, and
    an open 公示 of graded key projects with an objection."""
    now, today, rng = city.now, city.today, city.rng
    # Two declarations: one submitted this morning, one with the experts.
    for n, (hours, under_review) in enumerate(((3, False), (24 * 20, True)), start=STATIONS):
        trade = TRADES[n % len(TRADES)]
        district = DISTRICTS[n % len(DISTRICTS)]
        prefix = "演示·" + district[:2] + trade[0] + "新"
        college = n % 2 == 0
        answers = city.declaration_answers(n, f"{prefix}有限公司", UnitType.ENTERPRISE, f"{prefix}技师工作站", trade,
                                           district, COLLEGES[0] if college else "", college)
        contact_id = CONTACT_BASE + n
        docs = {"business_licence": [_upload("营业执照.pdf", f"{n}-licence")], "head_id_card": [_upload("负责人身份证.pdf", f"{n}-head")]}
        for m in range(1, 4):
            docs[f"mentor_id_card:{m}"] = [_upload(f"导师{m}身份证.pdf", f"{n}-id-{m}")]
            docs[f"mentor_qualification:{m}"] = [_upload(f"导师{m}职业资格证书.pdf", f"{n}-cert-{m}")]
            docs[f"mentor_education:{m}"] = [_upload(f"导师{m}学历证书.pdf", f"{n}-edu-{m}")]
        answers["_docs"] = docs
        submitted_at = now - timedelta(hours=hours)
        unit = await Unit.create(name=answers["unit_name"], uscc=answers["uscc"], unit_type=UnitType.ENTERPRISE,
                                 legal_representative=answers["legal_rep"], address=answers["address"],
                                 main_field=answers["main_field"], employees=answers["employees"])
        station = await Station.create(unit=unit, name=answers["station_name"],
                                       mode=EstablishmentMode.CO_BUILT if college else EstablishmentMode.SELF,
                                       partner_name=answers.get("partner_name", ""), school_enterprise=college,
                                       state=StationState.APPLYING)
        user, _ = await BotUser.get_or_create(id=contact_id)
        await Contact.create(user=user, station=station, role=ContactRole.APPLICANT)
        await StatusTransition.create(subject_type="station", subject_id=station.id, from_status=None, to_status="applying",
                                      actor_id=contact_id, actor_kind="contact", at=submitted_at)
        declaration = await Submission.create(kind=SubmissionKind.ESTABLISHMENT, unit=unit, station=station,
                                              created_by=contact_id, year=submitted_at.year, answers={})
        reference = city.reference("SZJS", submitted_at.year)
        await apply_transition("submission", declaration.id, "submit", actor_id=contact_id, actor=Actor.CONTACT,
                               now=submitted_at, changes={"answers": answers, "reference": reference,
                                                          "submitted_at": submitted_at, "year": submitted_at.year,
                                                          "uniqueness_key": f"establishment:{answers['uscc']}"})
        rows = [Document(submission_id=declaration.id, station_id=station.id, kind=slot.partition(":")[0],
                         item=slot.partition(":")[2], uploaded_by=contact_id, **files[0]) for slot, files in docs.items()]
        rows.append(Document(submission_id=declaration.id, station_id=station.id, kind=STAMPED_FORM, uploaded_by=contact_id,
                             **_upload("盖章申报表.pdf", f"{n}-stamped")))
        await Document.bulk_create(rows)
        if under_review:
            await apply_transition("submission", declaration.id, "accept_for_review", actor_id=DEMO_STAFF_ID,
                                   actor=Actor.STAFF, now=submitted_at + timedelta(days=3))
        city.made.pending["declaration_under_review" if under_review else "declaration"] = reference

    # This year's key projects: two waiting (submitted, with the experts), three graded and announced.
    year = today.year if today >= date(today.year, 6, 1) else today.year - 1
    await KeyProjectWindow.get_or_create(year=year, defaults={"opens_on": date(year, 4, 1), "closes_on": date(year, 5, 31),
                                                              "opened_by": DEMO_STAFF_ID})
    taken = set(await Submission.filter(kind=SubmissionKind.KEY_PROJECT, year=year).values_list("station_id", flat=True))
    active = set(await Station.filter(state=StationState.ACTIVE).values_list("id", flat=True))
    free = [s for s in stations if s.id in active and s.id not in taken and s.recognised_on and s.recognised_on.year < year
            and s.id not in (extension_asker.id, deregistering.id)]
    graded: list[int] = []
    for place, station in enumerate(free[:5]):
        contact_id = contacts[stations.index(station)]
        name = f"{station.name.removeprefix('演示·').removesuffix('技师工作站')}{year}年度高技能人才研修项目"
        submitted_at = now - timedelta(days=40 - place) if place >= 2 else now - timedelta(hours=5 + place)
        project = await Submission.create(kind=SubmissionKind.KEY_PROJECT, unit_id=station.unit_id, station=station,
                                          created_by=contact_id, year=year, answers={})
        reference = city.reference("SZXM", year)
        await apply_transition("submission", project.id, "submit", actor_id=contact_id, actor=Actor.CONTACT, now=submitted_at,
                               changes={"answers": city.key_project_answers(name, rng.choice(CATEGORIES)),
                                        "reference": reference, "submitted_at": submitted_at,
                                        "uniqueness_key": f"key_project:{station.id}:{year}"})
        if place == 0:
            city.made.pending["key_project"] = reference
            continue
        await apply_transition("submission", project.id, "accept_for_review", actor_id=DEMO_STAFF_ID, actor=Actor.STAFF,
                               now=submitted_at + timedelta(days=2))
        if place == 1:
            city.made.pending["key_project_under_review"] = reference
            continue
        await apply_transition("submission", project.id, "grade", actor_id=DEMO_STAFF_ID, actor=Actor.STAFF,
                               now=now - timedelta(days=6), changes={"level": place - 1})
        graded.append(project.id)
    starts_on = today - timedelta(days=3)
    announcement, announced = await announcements.publish(
        AnnouncementKind.KEY_PROJECT, graded, starts_on=starts_on, ends_on=today + timedelta(days=3), opened=True,
        created_by=DEMO_STAFF_ID, now=now - timedelta(days=3))
    city.made.announcements = 1
    first_item = await announcement.items.all().order_by("id").first()
    if first_item is not None:
        await announcements.file_objection(
            first_item.id, PUBLIC_OBJECTOR, "该项目申报的培训人数与实际不符，请核实。", evidence=None, today=today,
            now=now - timedelta(days=1), staff_recipients=[DEMO_STAFF_ID])
        city.made.objections = 1

    # An extension request for the last closed year, and a deregistration request, both this morning.
    contact_id = contacts[stations.index(extension_asker)]
    ext_year = today.year - 1 if today > filing_due_on(today.year - 1) else today.year - 2
    asked_at = now - timedelta(hours=4)
    reference = city.reference("SZYQ", asked_at.year)
    await Submission.create(
        kind=SubmissionKind.EXTENSION, status=SubmissionStatus.SUBMITTED, unit_id=extension_asker.unit_id,
        station=extension_asker, created_by=contact_id, year=ext_year, reference=reference,
        uniqueness_key=f"extension:{extension_asker.id}:{ext_year}", submitted_at=asked_at,
        answers={"grounds": "relocation", "months": 4, "explanation": "厂区整体搬迁至光明区，备案资料正在整理",
                 "_docs": {"written_request": [_upload("延期备案申请.pdf", f"ext-{extension_asker.id}")]}},
    )
    city.made.pending["extension"] = reference
    contact_id = contacts[stations.index(deregistering)]
    asked_at = now - timedelta(hours=2)
    await apply_transition("station", deregistering.id, "request_deregistration", actor_id=contact_id, actor=Actor.CONTACT,
                           now=asked_at)
    reference = city.reference("SZZX", asked_at.year)
    await Submission.create(
        kind=SubmissionKind.DEREGISTRATION, status=SubmissionStatus.SUBMITTED, unit_id=deregistering.unit_id,
        station=deregistering, created_by=contact_id, year=asked_at.year, reference=reference,
        uniqueness_key=f"deregistration:{deregistering.id}", submitted_at=asked_at,
        answers={"explanation": "企业经营方向调整，不再开展技师工作站工作", "plaque_return": "yes",
                 "_docs": {"written_request": [_upload("注销申请.pdf", f"dereg-{deregistering.id}")]}},
    )
    city.made.pending["deregistration"] = reference


__all__ = ["DEMO_STAFF_ID", "AlreadySeeded", "Seeded", "demo_resident_id", "demo_uscc", "seed_demo"]
