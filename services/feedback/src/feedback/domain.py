"""Feedback rules, as plain Python: surveys and answers, problem reports and who may see
them, announcements, meetings and action items, monthly reports and their revisions.

No I/O here. What the rules need from elsewhere (a member as membership's events
described them, today's date) is passed in. Changes return or record the event they
cause (the published contract in bizclub.feedback.v1); the api writes it to the outbox
in the same commit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import events_pb2, feedback_pb2
from bizclub_shared.errors import FailedPrecondition, FieldViolations, InvalidArgument, NotFound
from bizclub_shared.ids import new_id
from bizclub_shared.thai_text import to_common_era_year
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.validation import (
    check_enums,
    check_money,
    check_province,
    clean_text,
    to_common_era,
)
from google.protobuf.message import Message

fp = feedback_pb2

# Thailand keeps no daylight saving time: a fixed UTC+7 needs no tz database.
BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")
MAX_TITLE = 200
MAX_TEXT = 2000
MAX_QUESTIONS = 50
MAX_OPTIONS = 20
MAX_LIST = 50
MAX_EMPLOYEES = 100_000
# A report waits this long for an acknowledgement before it is flagged overdue.
ACKNOWLEDGE_WITHIN = timedelta(days=7)
# A training's satisfaction survey stays open this long after its first completion.
TRAINING_SURVEY_DAYS = 14
CLUSTER_CODE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")

# Members feedback addresses and accepts figures from (membership's statuses, as the
# events report them). An applicant is not a member yet; one who left is gone.
ACTIVE = "active"
MEMBER_STATUSES = ("applied", ACTIVE, "suspended", "left")
REPORTING = (ACTIVE, "suspended")


def local_today(now: datetime) -> date:
    return now.astimezone(BANGKOK).date()


def date_proto(day: date) -> common_pb2.Date:
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def is_set(value: common_pb2.Date) -> bool:
    return bool(value.year or value.month or value.day)


# --- members, as membership's events describe them -------------------------------------


@dataclass(frozen=True)
class MemberRef:
    member_id: str
    province_code: str
    cluster_code: str
    status: str


def require_member(
    member: MemberRef | None, member_id: str, field_name: str = "member_id"
) -> MemberRef:
    """A member in good standing or suspended: one whose figures and answers count."""
    if member is None:
        raise FailedPrecondition(
            f"{member_id!r} is not a member of any Biz Club network (members are learned "
            "from membership's events; an approval of a moment ago may take a second)",
            field=field_name,
        )
    if member.status not in REPORTING:
        state = "has left the network" if member.status == "left" else "is not approved yet"
        raise FailedPrecondition(f"member {member_id} {state}", field=field_name)
    return member


# --- surveys ---------------------------------------------------------------------------

RATING = fp.QUESTION_TYPE_RATING
CHOICE = fp.QUESTION_TYPE_CHOICE
NUMBER = fp.QUESTION_TYPE_NUMBER
TEXT = fp.QUESTION_TYPE_TEXT
BY_PROVINCE = fp.SURVEY_AUDIENCE_PROVINCE
BY_CLUSTER = fp.SURVEY_AUDIENCE_CLUSTER
BY_SESSION = fp.SURVEY_AUDIENCE_TRAINING_SESSION
VALUE_OF_TYPE: dict[int, str] = {
    RATING: "rating",
    CHOICE: "choice_index",
    NUMBER: "number",
    TEXT: "text_th",
}


@dataclass(frozen=True)
class Question:
    question_id: str
    type: int
    text_th: str
    required: bool
    options_th: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "type": self.type,
            "text_th": self.text_th,
            "required": self.required,
            "options_th": list(self.options_th),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Question:
        return Question(
            data["question_id"],
            data["type"],
            data["text_th"],
            data["required"],
            tuple(data.get("options_th", ())),
        )

    def to_proto(self) -> fp.SurveyQuestion:
        return fp.SurveyQuestion(
            question_id=self.question_id,
            type=self.type,  # type: ignore[arg-type]
            text_th=self.text_th,
            required=self.required,
            options_th=list(self.options_th),
        )


@dataclass(frozen=True)
class SurveyPlan:
    """A validated CreateSurvey request."""

    province_code: str
    audience: int
    cluster_code: str
    session_id: str
    title_th: str
    description_th: str
    questions: tuple[Question, ...]
    opens_on: date
    closes_on: date


def validate_questions(
    v: FieldViolations, questions: Sequence[fp.SurveyQuestion]
) -> tuple[Question, ...]:
    if not questions:
        v.add("questions", "a survey asks at least one question")
    if len(questions) > MAX_QUESTIONS:
        v.add("questions", f"at most {MAX_QUESTIONS} questions")
    result: list[Question] = []
    seen: set[str] = set()
    for i, q in enumerate(questions[:MAX_QUESTIONS]):
        at = f"questions[{i}]"
        qid = q.question_id.strip() or f"q{i + 1}"
        if len(qid) > 40:
            v.add(f"{at}.question_id", "at most 40 characters")
        elif qid in seen:
            v.add(f"{at}.question_id", f"{qid!r} is used twice")
        seen.add(qid)
        if q.type not in VALUE_OF_TYPE:
            v.add(f"{at}.type", "is required: rating, choice, number or text")
        text = clean_text(v, f"{at}.text_th", q.text_th, required=True, limit=MAX_TEXT)
        options: list[str] = []
        if q.type == CHOICE:
            if not 2 <= len(q.options_th) <= MAX_OPTIONS:
                v.add(f"{at}.options_th", f"a choice question has 2 to {MAX_OPTIONS} options")
            for j, option in enumerate(q.options_th[:MAX_OPTIONS]):
                options.append(
                    clean_text(v, f"{at}.options_th[{j}]", option, required=True, limit=MAX_TITLE)
                )
        elif q.options_th:
            v.add(f"{at}.options_th", "only a choice question has options")
        result.append(Question(qid, q.type, text, q.required, tuple(options)))
    return tuple(result)


def validate_survey(request: Any, today: date) -> SurveyPlan:
    """Every field of a CreateSurvey request checked at once."""
    v = FieldViolations()
    check_province(v, "province_code", request.province_code)
    audience = request.audience
    cluster_code = request.cluster_code.strip()
    session_id = request.session_id.strip()
    if audience not in (BY_PROVINCE, BY_CLUSTER, BY_SESSION):
        v.add("audience", "is required: a province, a cluster or a training session")
    if audience == BY_CLUSTER and not CLUSTER_CODE.match(cluster_code):
        v.add("cluster_code", "is required for a cluster survey, e.g. textiles")
    elif audience != BY_CLUSTER and cluster_code:
        v.add("cluster_code", "is only for SURVEY_AUDIENCE_CLUSTER")
    if audience == BY_SESSION and not session_id:
        v.add("session_id", "is required for a training session's survey")
    elif audience != BY_SESSION and session_id:
        v.add("session_id", "is only for SURVEY_AUDIENCE_TRAINING_SESSION")
    elif len(session_id) > 64:
        v.add("session_id", "is not a valid id")
    title = clean_text(v, "title_th", request.title_th, required=True, limit=MAX_TITLE)
    description = clean_text(
        v, "description_th", request.description_th, required=False, limit=MAX_TEXT, multiline=True
    )
    questions = validate_questions(v, request.questions)
    opens_on: date | None = today
    if is_set(request.opens_on):
        opens_on = to_common_era(request.opens_on, v, "opens_on")
    closes_on = None
    if not is_set(request.closes_on):
        v.add("closes_on", "is required: the last day answers are taken")
    else:
        closes_on = to_common_era(request.closes_on, v, "closes_on")
    if closes_on is not None and closes_on < today:
        v.add("closes_on", "is in the past")
    elif opens_on is not None and closes_on is not None and closes_on < opens_on:
        v.add("closes_on", "must not be before opens_on")
    v.raise_if_any()
    assert opens_on is not None and closes_on is not None
    return SurveyPlan(
        province_code=request.province_code,
        audience=audience,
        cluster_code=cluster_code,
        session_id=session_id,
        title_th=title,
        description_th=description,
        questions=questions,
        opens_on=opens_on,
        closes_on=closes_on,
    )


def training_survey_plan(
    session_id: str, province_code: str, session_title_th: str, today: date
) -> SurveyPlan:
    """The satisfaction survey every completed training gets, the same for every session."""
    title = (
        f"แบบประเมินความพึงพอใจ: {session_title_th}"
        if session_title_th
        else ("แบบประเมินความพึงพอใจการฝึกอบรม")
    )
    return SurveyPlan(
        province_code=province_code,
        audience=BY_SESSION,
        cluster_code="",
        session_id=session_id,
        title_th=title[:MAX_TITLE],
        description_th="ขอความร่วมมือสมาชิกที่ผ่านการอบรมประเมินความพึงพอใจ เพื่อปรับปรุงกิจกรรมครั้งต่อไป",
        questions=(
            Question("overall", RATING, "ความพึงพอใจโดยรวมต่อการอบรม", True),
            Question("speaker", RATING, "ความพึงพอใจต่อวิทยากร", True),
            Question(
                "apply",
                CHOICE,
                "ท่านจะนำความรู้ไปใช้ในธุรกิจหรือไม่",
                True,
                ("นำไปใช้ได้ทันที", "นำไปใช้ได้บางส่วน", "ยังไม่สามารถนำไปใช้ได้"),
            ),
            Question("suggestion", TEXT, "ข้อเสนอแนะเพิ่มเติม", False),
        ),
        opens_on=today,
        closes_on=today + timedelta(days=TRAINING_SURVEY_DAYS),
    )


def require_open(opens_on: date, closes_on: date, today: date) -> None:
    if today < opens_on:
        raise FailedPrecondition(
            f"the survey opens on {opens_on.isoformat()}; answers are not taken yet",
            field="survey_id",
        )
    if today > closes_on:
        raise FailedPrecondition(f"the survey closed on {closes_on.isoformat()}", field="survey_id")


def validate_answers(
    questions: Sequence[Question], items: Sequence[fp.SurveyAnswerItem]
) -> dict[str, int | float | str]:
    """The answers by question id; every problem named by its field."""
    v = FieldViolations()
    by_id = {q.question_id: q for q in questions}
    answers: dict[str, int | float | str] = {}
    for i, item in enumerate(items):
        at = f"answers[{i}]"
        question = by_id.get(item.question_id.strip())
        if question is None:
            v.add(f"{at}.question_id", f"the survey has no question {item.question_id!r}")
            continue
        if question.question_id in answers:
            v.add(f"{at}.question_id", f"{question.question_id!r} is answered twice")
            continue
        kind = item.WhichOneof("value")
        expected = VALUE_OF_TYPE[question.type]
        if kind != expected:
            v.add(f"{at}.{expected}", f"question {question.question_id!r} takes a {expected}")
            continue
        if question.type == RATING:
            if not 1 <= item.rating <= 5:
                v.add(f"{at}.rating", f"must be 1 to 5, not {item.rating}")
                continue
            answers[question.question_id] = item.rating
        elif question.type == CHOICE:
            if not 0 <= item.choice_index < len(question.options_th):
                v.add(
                    f"{at}.choice_index",
                    f"must be 0 to {len(question.options_th) - 1} (one of the options)",
                )
                continue
            answers[question.question_id] = item.choice_index
        elif question.type == NUMBER:
            if not math.isfinite(item.number):
                v.add(f"{at}.number", "must be a finite number")
                continue
            answers[question.question_id] = item.number
        else:
            text = clean_text(
                v, f"{at}.text_th", item.text_th, required=False, limit=MAX_TEXT, multiline=True
            )
            if text:
                answers[question.question_id] = text
    for question in questions:
        if question.required and question.question_id not in answers:
            v.add("answers", f"question {question.question_id!r} is required")
    v.raise_if_any()
    return answers


def average_rating(questions: Sequence[Question], answers: Mapping[str, Any]) -> float:
    ratings = [
        answers[q.question_id] for q in questions if q.type == RATING and q.question_id in answers
    ]
    return sum(ratings) / len(ratings) if ratings else 0.0


def tally(
    questions: Sequence[Question], responses: Iterable[Mapping[str, Any]]
) -> list[fp.QuestionResult]:
    """Counts per question over every response (in the order they were given)."""
    results = {
        q.question_id: fp.QuestionResult(
            question_id=q.question_id,
            type=q.type,  # type: ignore[arg-type]
            text_th=q.text_th,
            rating_counts=[0] * 5 if q.type == RATING else [],
            option_counts=[0] * len(q.options_th),
        )
        for q in questions
    }
    numbers: dict[str, list[float]] = {q.question_id: [] for q in questions}
    for response in responses:
        for question in questions:
            value = response.get(question.question_id)
            if value is None:
                continue
            result = results[question.question_id]
            result.answered += 1
            if question.type == RATING:
                result.rating_counts[int(value) - 1] += 1
                numbers[question.question_id].append(float(value))
            elif question.type == CHOICE:
                result.option_counts[int(value)] += 1
            elif question.type == NUMBER:
                numbers[question.question_id].append(float(value))
            else:
                result.texts_th.append(str(value))
    for question in questions:
        values = numbers[question.question_id]
        if values:
            result = results[question.question_id]
            result.average = sum(values) / len(values)
            if question.type == NUMBER:
                result.number_sum = sum(values)
                result.number_min = min(values)
                result.number_max = max(values)
    return [results[q.question_id] for q in questions]


def addressed_by_survey(plan_audience: int, cluster_code: str, member: MemberRef) -> bool:
    """Whether a province or cluster survey reaches this member of its province."""
    if member.status != ACTIVE:
        return False
    return plan_audience == BY_PROVINCE or member.cluster_code == cluster_code


# --- problem reports --------------------------------------------------------------------

OPEN = fp.ISSUE_STATUS_OPEN
ACKNOWLEDGED = fp.ISSUE_STATUS_ACKNOWLEDGED
IN_PROGRESS = fp.ISSUE_STATUS_IN_PROGRESS
ESCALATED = fp.ISSUE_STATUS_ESCALATED
RESOLVED = fp.ISSUE_STATUS_RESOLVED
PROVINCE_LEVEL = fp.ISSUE_LEVEL_PROVINCE
CENTRAL_LEVEL = fp.ISSUE_LEVEL_CENTRAL
ISSUE_NAMES: dict[int, str] = {
    OPEN: "open",
    ACKNOWLEDGED: "acknowledged",
    IN_PROGRESS: "in progress",
    ESCALATED: "escalated",
    RESOLVED: "resolved",
}
# Where each status may be reached from.
ISSUE_MOVES: dict[int, tuple[int, ...]] = {
    ACKNOWLEDGED: (OPEN,),
    IN_PROGRESS: (ACKNOWLEDGED, ESCALATED),
    ESCALATED: (OPEN, ACKNOWLEDGED, IN_PROGRESS),
    RESOLVED: (ACKNOWLEDGED, IN_PROGRESS, ESCALATED),
}


@dataclass(frozen=True)
class Scope:
    """Whose view a call takes: the central ministry's, or one province office's.

    Central sees the escalated reports of every province (its queue); a province office
    sees every report of its province, escalated ones included, and acts on those still
    in its queue. Until the access check supplies the caller's scope from
    their token, the request states it (ViewerScope).
    """

    central: bool
    province_code: str = ""

    @staticmethod
    def from_proto(viewer: fp.ViewerScope, field_name: str = "viewer") -> Scope:
        v = FieldViolations()
        code = viewer.province_code.strip()
        if viewer.central and code:
            v.add(field_name, "give central or a province_code, not both")
        elif not viewer.central:
            if not code:
                v.add(field_name, "is required: central, or the province_code of your office")
            else:
                check_province(v, f"{field_name}.province_code", code)
        v.raise_if_any()
        return Scope(viewer.central, code)

    def sees(self, province_code: str, level: int) -> bool:
        if self.central:
            return level == CENTRAL_LEVEL
        return province_code == self.province_code

    def acts_on(self, province_code: str, level: int) -> bool:
        """Whose queue it is: central acts on escalated reports, the province on the rest."""
        return self.sees(province_code, level) and self.central == (level == CENTRAL_LEVEL)


@dataclass(frozen=True)
class Step:
    status: int
    actor_id: str
    note_th: str
    at: datetime


@dataclass
class Issue:
    issue_id: str
    province_code: str
    member_id: str
    reported_by: str
    category: int
    severity: int
    description_th: str
    status: int
    level: int
    reported_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution_th: str = ""
    history: list[Step] = field(default_factory=list)
    events: list[Message] = field(default_factory=list, repr=False)

    @staticmethod
    def report(
        province_code: str,
        member_id: str,
        reported_by: str,
        category: int,
        severity: int,
        description_th: str,
        now: datetime,
    ) -> Issue:
        issue = Issue(
            issue_id=new_id(),
            province_code=province_code,
            member_id=member_id,
            reported_by=reported_by,
            category=category,
            severity=severity,
            description_th=description_th,
            status=OPEN,
            level=PROVINCE_LEVEL,
            reported_at=now,
            history=[Step(OPEN, reported_by, "", now)],
        )
        issue.events.append(
            events_pb2.IssueReported(
                issue_id=issue.issue_id,
                province_code=province_code,
                member_id=member_id,
                category=category,  # type: ignore[arg-type]
                severity=severity,  # type: ignore[arg-type]
                occurred_at=to_timestamp(now),
            )
        )
        return issue

    def overdue(self, now: datetime) -> bool:
        """No acknowledgement within 7 days of the report (and not resolved)."""
        return (
            self.acknowledged_at is None
            and self.status != RESOLVED
            and now - self.reported_at > ACKNOWLEDGE_WITHIN
        )

    def move(self, to: int, scope: Scope, actor_id: str, note_th: str, now: datetime) -> None:
        """One step of handling, by whoever's queue the report is in."""
        if not scope.sees(self.province_code, self.level):
            raise NotFound(f"no problem report with id {self.issue_id!r}", field="issue_id")
        if not scope.acts_on(self.province_code, self.level):
            raise FailedPrecondition(
                "the report was escalated; the central ministry handles it now",
                field="viewer",
            )
        if to == ESCALATED and self.level == CENTRAL_LEVEL:
            raise FailedPrecondition(
                "the report is already with the central ministry", field="issue_id"
            )
        if self.status not in ISSUE_MOVES[to]:
            raise FailedPrecondition(
                f"a report that is {ISSUE_NAMES[self.status]} cannot become {ISSUE_NAMES[to]}",
                field="issue_id",
            )
        overdue = self.overdue(now)
        self.status = to
        self.history.append(Step(to, actor_id, note_th, now))
        at = to_timestamp(now)
        if to in (ACKNOWLEDGED, IN_PROGRESS) and self.acknowledged_at is None:
            self.acknowledged_at = now
        if to == ACKNOWLEDGED:
            self.events.append(
                events_pb2.IssueAcknowledged(
                    issue_id=self.issue_id,
                    province_code=self.province_code,
                    actor_id=actor_id,
                    reported_at=to_timestamp(self.reported_at),
                    occurred_at=at,
                )
            )
        elif to == ESCALATED:
            self.level = CENTRAL_LEVEL
            self.events.append(
                events_pb2.IssueEscalated(
                    issue_id=self.issue_id,
                    province_code=self.province_code,
                    actor_id=actor_id,
                    category=self.category,  # type: ignore[arg-type]
                    severity=self.severity,  # type: ignore[arg-type]
                    overdue=overdue,
                    occurred_at=at,
                )
            )
        elif to == RESOLVED:
            self.resolved_at, self.resolution_th = now, note_th
            self.events.append(
                events_pb2.IssueResolved(
                    issue_id=self.issue_id,
                    province_code=self.province_code,
                    actor_id=actor_id,
                    category=self.category,  # type: ignore[arg-type]
                    level=self.level,  # type: ignore[arg-type]
                    reported_at=to_timestamp(self.reported_at),
                    occurred_at=at,
                )
            )


def validate_report(request: Any) -> tuple[str, str, int, int, str]:
    """(member_id, reported_by, category, severity, description) of a ReportIssue request."""
    v = FieldViolations()
    check_province(v, "province_code", request.province_code)
    member_id = request.member_id.strip()
    reported_by = request.reported_by.strip() or member_id
    if not reported_by:
        v.add("reported_by", "is required when no member_id is given: the officer's id")
    elif len(reported_by) > 64 or len(member_id) > 64:
        v.add("member_id" if len(member_id) > 64 else "reported_by", "is not a valid id")
    if request.category not in fp.IssueCategory.values() or request.category == 0:
        v.add(
            "category",
            "is required: finance, market access, standards and certification, logistics, "
            "regulation or other",
        )
    if request.severity not in fp.IssueSeverity.values() or request.severity == 0:
        v.add("severity", "is required: low, medium, high or critical")
    description = clean_text(
        v, "description_th", request.description_th, required=True, limit=MAX_TEXT, multiline=True
    )
    v.raise_if_any()
    return member_id, reported_by, request.category, request.severity, description


# --- announcements ----------------------------------------------------------------------


@dataclass(frozen=True)
class AnnouncementPlan:
    from_province_code: str
    province_codes: tuple[str, ...]
    cluster_codes: tuple[str, ...]
    title_th: str
    body_th: str


def _codes(v: FieldViolations, field_name: str, values: Sequence[str], check: Any) -> list[str]:
    result: list[str] = []
    if len(values) > MAX_LIST:
        v.add(field_name, f"at most {MAX_LIST}")
    for i, raw in enumerate(values[:MAX_LIST]):
        code = raw.strip()
        if not check(code):
            v.add(f"{field_name}[{i}]", f"{code!r} is not a valid code")
        elif code in result:
            v.add(f"{field_name}[{i}]", f"{code!r} is listed twice")
        else:
            result.append(code)
    return result


def _is_province(code: str) -> bool:
    v = FieldViolations()
    check_province(v, "x", code)
    return not v


def validate_announcement(request: Any) -> AnnouncementPlan:
    v = FieldViolations()
    origin = request.from_province_code.strip()
    if origin:
        check_province(v, "from_province_code", origin)
    provinces = _codes(v, "province_codes", request.province_codes, _is_province)
    clusters = _codes(v, "cluster_codes", request.cluster_codes, CLUSTER_CODE.match)
    if origin and provinces != [origin]:
        v.add("province_codes", f"a province office addresses its own network: [{origin!r}]")
    title = clean_text(v, "title_th", request.title_th, required=True, limit=MAX_TITLE)
    body = clean_text(
        v, "body_th", request.body_th, required=True, limit=10 * MAX_TEXT, multiline=True
    )
    v.raise_if_any()
    return AnnouncementPlan(origin, tuple(provinces), tuple(clusters), title, body)


def addressed_by_announcement(
    province_codes: Sequence[str], cluster_codes: Sequence[str], member: MemberRef
) -> bool:
    return (not province_codes or member.province_code in province_codes) and (
        not cluster_codes or member.cluster_code in cluster_codes
    )


# --- meetings and action items ------------------------------------------------------------

SCHEDULED = fp.MEETING_STATUS_SCHEDULED
HELD = fp.MEETING_STATUS_HELD
ITEM_OPEN = fp.ACTION_ITEM_STATUS_OPEN
ITEM_IN_PROGRESS = fp.ACTION_ITEM_STATUS_IN_PROGRESS
ITEM_DONE = fp.ACTION_ITEM_STATUS_DONE
ITEM_DROPPED = fp.ACTION_ITEM_STATUS_DROPPED
ITEM_MOVES: dict[int, tuple[int, ...]] = {
    ITEM_IN_PROGRESS: (ITEM_OPEN,),
    ITEM_DONE: (ITEM_OPEN, ITEM_IN_PROGRESS),
    ITEM_DROPPED: (ITEM_OPEN, ITEM_IN_PROGRESS),
}


@dataclass(frozen=True)
class MeetingPlan:
    province_code: str
    kind: int
    title_th: str
    cluster_codes: tuple[str, ...]
    venue_th: str
    start_at: datetime
    agenda_th: tuple[str, ...]
    invited_member_ids: tuple[str, ...]


def _text_list(v: FieldViolations, field_name: str, values: Sequence[str]) -> list[str]:
    if len(values) > MAX_LIST:
        v.add(field_name, f"at most {MAX_LIST} items")
    return [
        clean_text(v, f"{field_name}[{i}]", text, required=True, limit=MAX_TEXT)
        for i, text in enumerate(values[:MAX_LIST])
    ]


def _ids(v: FieldViolations, field_name: str, values: Sequence[str]) -> list[str]:
    result: list[str] = []
    if len(values) > 500:
        v.add(field_name, "at most 500 members")
    for i, raw in enumerate(values[:500]):
        value = raw.strip()
        if not value or len(value) > 64:
            v.add(f"{field_name}[{i}]", "is not a valid member id")
        elif value not in result:
            result.append(value)
    return result


def validate_meeting(request: Any) -> MeetingPlan:
    v = FieldViolations()
    check_province(v, "province_code", request.province_code)
    kind = request.kind
    if kind not in (fp.MEETING_KIND_NETWORK, fp.MEETING_KIND_INTER_CLUSTER):
        v.add("kind", "is required: a network or an inter-cluster meeting")
    clusters = _codes(v, "cluster_codes", request.cluster_codes, CLUSTER_CODE.match)
    if kind == fp.MEETING_KIND_INTER_CLUSTER and len(clusters) < 2:
        v.add("cluster_codes", "an inter-cluster meeting brings two or more clusters together")
    title = clean_text(v, "title_th", request.title_th, required=True, limit=MAX_TITLE)
    venue = clean_text(v, "venue_th", request.venue_th, required=False, limit=MAX_TITLE)
    start: datetime | None = None
    if not request.HasField("start_time"):
        v.add("start_time", "is required")
    else:
        start = request.start_time.ToDatetime(tzinfo=UTC)
    agenda = _text_list(v, "agenda_th", request.agenda_th)
    invited = _ids(v, "invited_member_ids", request.invited_member_ids)
    v.raise_if_any()
    assert start is not None
    return MeetingPlan(
        request.province_code, kind, title, tuple(clusters), venue, start, tuple(agenda),
        tuple(invited),
    )  # fmt: skip


@dataclass(frozen=True)
class NewItem:
    description_th: str
    owner_member_id: str
    owner_th: str
    due_on: date


@dataclass(frozen=True)
class MeetingRecord:
    attendee_member_ids: tuple[str, ...]
    minutes_th: str
    decisions_th: tuple[str, ...]
    action_items: tuple[NewItem, ...]


def validate_meeting_record(request: Any, meeting_day: date) -> MeetingRecord:
    v = FieldViolations()
    attendees = _ids(v, "attendee_member_ids", request.attendee_member_ids)
    if not attendees:
        v.add("attendee_member_ids", "who came: at least one member")
    minutes = clean_text(
        v, "minutes_th", request.minutes_th, required=True, limit=10 * MAX_TEXT, multiline=True
    )
    decisions = _text_list(v, "decisions_th", request.decisions_th)
    items: list[NewItem] = []
    for i, item in enumerate(request.action_items[:MAX_LIST]):
        at = f"action_items[{i}]"
        description = clean_text(
            v, f"{at}.description_th", item.description_th, required=True, limit=MAX_TEXT
        )
        owner_member = item.owner_member_id.strip()
        owner = clean_text(v, f"{at}.owner_th", item.owner_th, required=False, limit=MAX_TITLE)
        if not owner_member and not owner:
            v.add(f"{at}.owner_member_id", "every action item has an owner: a member or owner_th")
        due = to_common_era(item.due_on, v, f"{at}.due_on")
        if due is not None and due < meeting_day:
            v.add(f"{at}.due_on", "is before the meeting")
        if due is not None:
            items.append(NewItem(description, owner_member, owner, due))
    if len(request.action_items) > MAX_LIST:
        v.add("action_items", f"at most {MAX_LIST}")
    v.raise_if_any()
    return MeetingRecord(tuple(attendees), minutes, tuple(decisions), tuple(items))


def item_overdue(status: int, due_on: date, today: date) -> bool:
    return status in (ITEM_OPEN, ITEM_IN_PROGRESS) and today > due_on


def move_item(status: int, to: int) -> None:
    if to not in ITEM_MOVES:
        raise InvalidArgument("must be in progress, done or dropped", field="status")
    if status not in ITEM_MOVES[to]:
        names: dict[int, str] = {
            ITEM_OPEN: "open",
            ITEM_IN_PROGRESS: "in progress",
            ITEM_DONE: "done",
        }
        raise FailedPrecondition(
            f"the action item is {names.get(status, 'dropped')}; it cannot move to that",
            field="status",
        )


# --- monthly reports ------------------------------------------------------------------------

SALES_CHANNELS = [int(c) for c in common_pb2.SalesChannel.values() if c != 0]


@dataclass(frozen=True)
class Figures:
    revenue_satang: int
    sales_channels: tuple[int, ...]
    employees: int

    def to_proto(self) -> fp.MonthlyFigures:
        return fp.MonthlyFigures(
            revenue=common_pb2.Money(satang=self.revenue_satang, currency_code="THB"),
            sales_channels=list(self.sales_channels),  # type: ignore[arg-type]
            employees=self.employees,
        )


def check_month(v: FieldViolations, field_name: str, month: fp.ReportMonth, today: date) -> int:
    """A report month as year * 100 + month (202503); this month or an earlier one."""
    year = to_common_era_year(month.year)
    if not (2000 <= year <= 9999 and 1 <= month.month <= 12):
        v.add(field_name, "is required: year (พ.ศ. or ค.ศ.) and month 1 to 12")
        return 0
    key = year * 100 + month.month
    if key > today.year * 100 + today.month:
        v.add(field_name, f"{year}-{month.month:02d} has not begun; report this month or earlier")
    return key


def validate_figures(v: FieldViolations, request: Any, today: date) -> tuple[int, Figures]:
    """(month key, figures) of a Submit or Revise request."""
    month = check_month(v, "month", request.month, today)
    figures = request.figures
    if not request.HasField("figures") or not figures.HasField("revenue"):
        v.add("figures.revenue", "is required: the month's revenue in satang (0 if none)")
    revenue = check_money(v, "figures.revenue", figures.revenue)
    channels = check_enums(
        v, "figures.sales_channels", figures.sales_channels, SALES_CHANNELS, "sales channel"
    )
    if not 0 <= figures.employees <= MAX_EMPLOYEES:
        v.add("figures.employees", f"must be 0 to {MAX_EMPLOYEES}")
    return month, Figures(revenue, tuple(channels), figures.employees)


def month_proto(key: int) -> fp.ReportMonth:
    return fp.ReportMonth(year=key // 100, month=key % 100)


def report_submitted(
    report_id: str, member: MemberRef, month: int, figures: Figures, now: datetime
) -> events_pb2.MonthlyReportSubmitted:
    return events_pb2.MonthlyReportSubmitted(
        report_id=report_id,
        member_id=member.member_id,
        province_code=member.province_code,
        cluster_code=member.cluster_code,
        month=month_proto(month),
        figures=figures.to_proto(),
        occurred_at=to_timestamp(now),
    )


def revise(
    report_id: str,
    member: MemberRef,
    month: int,
    revision: int,
    previous: Figures,
    current: Figures,
    now: datetime,
) -> events_pb2.MonthlyReportRevised:
    """The event of a correction; a correction that changes nothing is refused."""
    if previous == current:
        raise FailedPrecondition(
            "the figures are the same as the report's current ones; nothing to revise",
            field="figures",
        )
    return events_pb2.MonthlyReportRevised(
        report_id=report_id,
        member_id=member.member_id,
        province_code=member.province_code,
        cluster_code=member.cluster_code,
        month=month_proto(month),
        revision=revision,
        previous=previous.to_proto(),
        current=current.to_proto(),
        occurred_at=to_timestamp(now),
    )
