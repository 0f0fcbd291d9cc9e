"""The playbook's `issues:` section: the stages an issue moves through, their time goals, checklists and gates.

    issues:
      stages:                          # in order; an issue starts in the first
        - id: acknowledgement
          label: Acknowledgement
          goal: 2h                     # business time on `calendar` ("90m", "2h"), or business days ("2bd")
          warn: 1h                     # optional; default: when 75% of the goal's business time is used
          calendar: always             # calendar id; default always (24x7)
          tasks:                       # the stage's checklist, copied onto each issue entering it
            - title: Publish one public acknowledgement
              required: true           # default false; a required open task blocks leaving the stage
              owner: communications    # the stakeholder role that owns it by default (default: owner)
              due: 1h                  # optional; after entering the stage, on the stage's calendar
          exit: {decision: false, approved: [], published: false}
        - id: aftermath
          label: Aftermath
      legal_review: {goal: 2h, calendar: support_hours}
      holding_statements:
        - {id: aware, label: We're aware, kind: acknowledgement, text: "We know some {product} ..."}
      reply_template: "We've posted an update on {title}: {link}"
      follow_up_template: "Hi @{handle}, {title} is now fixed ({link}) ..."
      publish_throttle: 30s

The stages, as a lifecycle:

* Every stage but the last has a time goal; it is the stage's deadline, warned of and escalated like
  an SLA. A goal in business days ("2bd") means the same wall-clock time that many open days later
  (`BusinessCalendar.add_business_days`); a duration is business time on the stage's calendar.
* `warn`, when given, is written in the same unit as the goal and is shorter than it.
* The last stage (aftermath in the default) is where an issue ends: it is closed from there when its
  follow-ups are done. It has no goal, no exit gate and no required tasks, because nothing comes
  after it to gate; its tasks are the aftermath checklist and stay visible in the issue's summary.
* A task's `due` is not later than its stage's goal when both are written in the same unit.

Places in error messages and in `referenced_calendars` are paths from the playbook root
("issues.stages[1].calendar"); every message also names the stage or field it is about.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from firebreak.core.durations import format_duration, parse_duration
from firebreak.core.errors import InvalidInput
from firebreak.lifecycle.templates import placeholders

if TYPE_CHECKING:
    from firebreak.calendars import BusinessCalendar

StakeholderRole = Literal["owner", "communications", "legal", "product", "support", "executive_sponsor"]
STAKEHOLDER_ROLES: tuple[StakeholderRole, ...] = get_args(StakeholderRole)
DraftKind = Literal["acknowledgement", "confirmation", "response", "faq", "talking_points"]
DRAFT_KINDS: tuple[DraftKind, ...] = get_args(DraftKind)
# What the issue's texts may ask for; the values come from the issue, the workspace and the recipient.
PLACEHOLDERS = frozenset({"product", "problem", "next_update", "title", "link", "handle", "issue", "brand"})
# Without an explicit `warn`, a stage warns when this share of its goal's business time is used.
WARN_FRACTION = 0.75
MAX_BUSINESS_DAYS = 30

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Label = Annotated[str, Field(min_length=1, max_length=80)]

_BUSINESS_DAYS = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*bd\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TimeGoal:
    """A time goal: business seconds on a calendar, or a number of business days (exactly one is set)."""

    seconds: float | None = None
    business_days: int | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.business_days is None):
            raise ValueError("a time goal is either business seconds or business days, not both or neither")
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"a time goal must be longer than zero, got {self.seconds!r} seconds")
        if self.business_days is not None and not 1 <= self.business_days <= MAX_BUSINESS_DAYS:
            raise ValueError(f"business days must be from 1 to {MAX_BUSINESS_DAYS}, got {self.business_days}")

    @classmethod
    def parse(cls, value: Any) -> TimeGoal:
        """Read a playbook goal: a duration with units ("90m", "2h", "1h30m") or business days ("2bd")."""
        if isinstance(value, TimeGoal):
            return value
        if isinstance(value, str) and "bd" in value.lower():
            match = _BUSINESS_DAYS.match(value)
            if match is None:
                raise ValueError(f"{value!r} is not like '2bd': write business days alone, as a whole number")
            days = float(match.group(1))
            if days != int(days) or not 1 <= days <= MAX_BUSINESS_DAYS:
                raise ValueError(f"{value!r}: business days must be a whole number from 1bd to {MAX_BUSINESS_DAYS}bd")
            return cls(business_days=int(days))
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError(f"duration {value!r} must be longer than zero")
        return cls(seconds=seconds)

    def due(self, calendar: BusinessCalendar, start: datetime) -> datetime:
        """Return when this goal falls due for something started at `start`, in `calendar`'s business time."""
        if self.business_days is not None:
            return calendar.add_business_days(start, self.business_days)
        assert self.seconds is not None
        return calendar.add(start, self.seconds)

    def describe(self) -> str:
        """Return the goal in words: '2 business days', '1 business day', '2h', '1h 30m'."""
        if self.business_days is not None:
            return f"{self.business_days} business day{'' if self.business_days == 1 else 's'}"
        assert self.seconds is not None
        return format_duration(self.seconds)

    def __str__(self) -> str:
        """Return the goal as the playbook writes it ("2bd", "1h30m"); `parse` reads it back."""
        if self.business_days is not None:
            return f"{self.business_days}bd"
        assert self.seconds is not None
        whole = int(self.seconds)
        if whole != self.seconds:
            return f"{self.seconds:g}s"
        parts = []
        for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
            amount, whole = divmod(whole, size)
            if amount:
                parts.append(f"{amount}{unit}")
        return "".join(parts)

    def same_unit(self, other: TimeGoal) -> bool:
        """Whether the two goals can be compared: both business days or both durations."""
        return (self.business_days is None) == (other.business_days is None)

    def shorter_than(self, other: TimeGoal) -> bool:
        """Whether this goal is shorter than `other` (both in the same unit)."""
        if not self.same_unit(other):
            raise ValueError(f"{self.describe()} and {other.describe()} are in different units")
        if self.business_days is not None:
            assert other.business_days is not None
            return self.business_days < other.business_days
        assert self.seconds is not None and other.seconds is not None
        return self.seconds < other.seconds


Goal = Annotated[TimeGoal, PlainValidator(TimeGoal.parse), PlainSerializer(str)]


def _positive_seconds(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be longer than zero")
    return seconds


def _known_placeholders(text: str) -> str:
    unknown = sorted(placeholders(text) - PLACEHOLDERS)
    if unknown:
        names = ", ".join(f"{{{name}}}" for name in unknown)
        raise ValueError(f"unknown placeholder {names}; known: {', '.join(f'{{{p}}}' for p in sorted(PLACEHOLDERS))}")
    return text


def _with_link(text: str) -> str:
    if "link" not in placeholders(text):
        raise ValueError("the reply must contain {link}: it points people to the published answer")
    return text


TemplateText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_known_placeholders)]


def _refuse(title: str, problems: list[tuple[tuple[str | int, ...], str, Any]]) -> None:
    # A ValidationError raised inside a validator keeps these locations under the validator's own, so
    # the playbook loader can name the line of each problem rather than the section's.
    if problems:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("invalid_issues", "{message}", {"message": message}),
                             loc=location, input=value)
            for location, message, value in problems
        ])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Timed(_Strict):
    """A goal with an optional warning, measured on one calendar."""

    goal: Goal | None = None
    warn: Goal | None = None
    calendar: Id = "always"

    def _warn_problem(self, subject: str) -> str | None:
        if self.warn is None:
            return None
        if self.goal is None:
            return f"{subject}: warn {self.warn.describe()} needs a goal to warn before"
        if not self.warn.same_unit(self.goal):
            return (f"{subject}: warn {self.warn.describe()} and goal {self.goal.describe()} must both be "
                    "business days or both durations")
        if not self.warn.shorter_than(self.goal):
            return f"{subject}: warn {self.warn.describe()} must be shorter than the goal {self.goal.describe()}"
        return None

    def due_at(self, calendar: BusinessCalendar, started_at: datetime) -> datetime | None:
        """Return when the goal falls due (None: no goal); `calendar` is the compiled `self.calendar`."""
        return None if self.goal is None else self.goal.due(calendar, started_at)

    def warn_at(self, calendar: BusinessCalendar, started_at: datetime) -> datetime | None:
        """Return when to warn: at `warn`, else once 75% of the goal's business time is used (None: no goal)."""
        if self.warn is not None:
            return self.warn.due(calendar, started_at)
        due = self.due_at(calendar, started_at)
        if due is None:
            return None
        return calendar.add(started_at, WARN_FRACTION * calendar.between(started_at, due))


class TaskSpec(_Strict):
    """One item of a stage's checklist."""

    title: Annotated[str, Field(min_length=1, max_length=300)]
    required: bool = False
    owner: StakeholderRole = "owner"
    due: Goal | None = None

    def due_at(self, calendar: BusinessCalendar, entered_at: datetime) -> datetime | None:
        """Return when the task is due for a stage entered at `entered_at` (None: no due time)."""
        return None if self.due is None else self.due.due(calendar, entered_at)


class ExitGate(_Strict):
    """What must be true to leave a stage, besides its required tasks being done."""

    decision: bool = False
    approved: tuple[DraftKind, ...] = ()
    published: bool = False

    @model_validator(mode="after")
    def _kinds_once(self) -> ExitGate:
        repeated = sorted({kind for kind in self.approved if self.approved.count(kind) > 1})
        if repeated:
            raise ValueError(f"approved lists {', '.join(repeated)} more than once")
        return self

    @property
    def empty(self) -> bool:
        """Whether the gate asks for nothing."""
        return not (self.decision or self.approved or self.published)


class StageSpec(_Timed):
    """One stage of the lifecycle: its time goal, checklist and exit gate."""

    id: Id
    label: Label
    tasks: tuple[TaskSpec, ...] = ()
    exit: ExitGate = ExitGate()

    @model_validator(mode="after")
    def _coherent(self) -> StageSpec:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        subject = f"stage {self.id!r}"
        if (problem := self._warn_problem(subject)) is not None:
            problems.append((("warn",), problem, self.warn))
        seen: dict[str, int] = {}
        for index, task in enumerate(self.tasks):
            if task.title in seen:
                problems.append((("tasks", index, "title"), f"{subject}: task {task.title!r} is also "
                                 f"tasks[{seen[task.title]}]; task titles must differ", task.title))
            seen.setdefault(task.title, index)
            if (task.due is not None and self.goal is not None and task.due.same_unit(self.goal)
                    and self.goal.shorter_than(task.due)):
                problems.append((("tasks", index, "due"), f"{subject}: task {task.title!r} is due "
                                 f"{task.due.describe()}, after the stage's goal {self.goal.describe()}", task.due))
        _refuse("StageSpec", problems)
        return self

    def required_titles(self) -> tuple[str, ...]:
        """Return the titles of the checklist's required tasks."""
        return tuple(task.title for task in self.tasks if task.required)


class LegalReviewSpec(_Timed):
    """The clock of a draft version sent for legal review."""

    goal: Goal

    @model_validator(mode="after")
    def _warn_before_goal(self) -> LegalReviewSpec:
        if (problem := self._warn_problem("legal_review")) is not None:
            raise ValueError(problem)
        return self


class HoldingStatement(_Strict):
    """A pre-approved text a draft can start from."""

    id: Id
    label: Label
    kind: DraftKind
    text: TemplateText


class IssuesSpec(_Strict):
    """The `issues:` section: the lifecycle's stages and the texts and clocks around them."""

    stages: tuple[StageSpec, ...]
    legal_review: LegalReviewSpec = LegalReviewSpec(goal=TimeGoal(seconds=7200))
    holding_statements: tuple[HoldingStatement, ...] = ()
    reply_template: Annotated[TemplateText, AfterValidator(_with_link)] = "We've posted an update on {title}: {link}"
    follow_up_template: TemplateText = (
        "Hi @{handle}, {title} is now fixed ({link}). If it is working for you again, would you update your "
        "original post so others know? Thank you for your patience."
    )
    publish_throttle: Annotated[float, BeforeValidator(_positive_seconds), PlainSerializer(lambda s: f"{s:g}s")] = 30.0

    @model_validator(mode="after")
    def _a_lifecycle(self) -> IssuesSpec:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        if len(self.stages) < 2:
            problems.append((("stages",), "an issue needs at least two stages: one to work in and a last one "
                             "where it ends (e.g. aftermath)", len(self.stages)))
        problems += _repeated_ids("stages", "stage", [stage.id for stage in self.stages])
        problems += _repeated_ids("holding_statements", "holding statement",
                                  [statement.id for statement in self.holding_statements])
        if len(self.stages) >= 2:
            for index, stage in enumerate(self.stages[:-1]):
                if stage.goal is None:
                    problems.append((("stages", index, "goal"), f"stage {stage.id!r} needs a goal: every stage "
                                     "but the last has a time goal", None))
            problems += _last_stage_problems(len(self.stages) - 1, self.stages[-1])
        _refuse("IssuesSpec", problems)
        return self

    @property
    def stage_ids(self) -> tuple[str, ...]:
        """Return the stage ids in order."""
        return tuple(stage.id for stage in self.stages)

    @property
    def first_stage(self) -> StageSpec:
        """Return the stage a new issue starts in."""
        return self.stages[0]

    @property
    def last_stage(self) -> StageSpec:
        """Return the stage an issue ends in (it is closed from there)."""
        return self.stages[-1]

    def position(self, stage_id: str) -> int:
        """Return the stage's index in the lifecycle; an unknown id is an InvalidInput naming the known ones."""
        for index, stage in enumerate(self.stages):
            if stage.id == stage_id:
                return index
        raise InvalidInput(f"unknown stage {stage_id!r}; stages are {', '.join(self.stage_ids)}", field="stage")

    def stage(self, stage_id: str) -> StageSpec:
        """Return the stage with this id (InvalidInput when there is none)."""
        return self.stages[self.position(stage_id)]

    def holding_statement(self, statement_id: str) -> HoldingStatement:
        """Return the holding statement with this id (InvalidInput when there is none)."""
        for statement in self.holding_statements:
            if statement.id == statement_id:
                return statement
        known = ", ".join(statement.id for statement in self.holding_statements) or "(none defined)"
        raise InvalidInput(f"unknown holding statement {statement_id!r}; known: {known}", field="holding_statement")

    def referenced_calendars(self) -> dict[str, str]:
        """Return each calendar id the section uses, with the first place it is named."""
        found: dict[str, str] = {}
        for index, stage in enumerate(self.stages):
            found.setdefault(stage.calendar, f"issues.stages[{index}].calendar")
        found.setdefault(self.legal_review.calendar, "issues.legal_review.calendar")
        return found


def _repeated_ids(field: str, what: str, ids: Sequence[str]) -> list[tuple[tuple[str | int, ...], str, Any]]:
    problems: list[tuple[tuple[str | int, ...], str, Any]] = []
    first: dict[str, int] = {}
    for index, item_id in enumerate(ids):
        if item_id in first:
            problems.append(((field, index, "id"), f"{what} id {item_id!r} is also {field}[{first[item_id]}]; "
                             f"{what} ids must be unique", item_id))
        first.setdefault(item_id, index)
    return problems


def _last_stage_problems(index: int, stage: StageSpec) -> list[tuple[tuple[str | int, ...], str, Any]]:
    subject = f"stage {stage.id!r} is the last stage, where the issue ends and is closed"
    problems: list[tuple[tuple[str | int, ...], str, Any]] = []
    if stage.goal is not None:
        problems.append((("stages", index, "goal"), f"{subject}: it has no goal", stage.goal.describe()))
    if not stage.exit.empty:
        problems.append((("stages", index, "exit"), f"{subject}: it has no exit gate", None))
    for number, task in enumerate(stage.tasks):
        if task.required:
            problems.append((("stages", index, "tasks", number, "required"),
                             f"{subject}: its tasks cannot be required (task {task.title!r})", True))
    return problems
