"""Pydantic models of the playbook's `roles:`, `teams:`, `queues:` and `routing:` sections.

    roles:                                   # the six roles are fixed; the playbook sets what each may do
      agent:
        label: Social care agent
        authority: {refund_up_to: 50, goodwill_credit_up_to: 20, hide_post: true}
        may: [respond, assign_self, set_waiting, resolve]
    teams:
      - id: crisis
        label: Crisis desk
        calendar: always                     # calendar id: the team's hours of operation
        on_call:                             # optional: who answers outside hours and for urgent work
          rotation: [ana@example.com, ben@example.com]
          shift: 1w
          handover: "2026-01-05T09:00"       # local wall-clock time in `timezone`
          timezone: Europe/London
    queues:
      - {id: escalations, label: Red flags, team: crisis, assignment: least_loaded, outside_hours: on_call}
    routing:
      default_queue: care_general
      rules:                                 # first match wins
        - {id: red_to_crisis, when: {flag: red}, queue: escalations, priority: urgent}

A role the playbook leaves out may only view: forgetting a role must never hand out authority. Every
role may view, so `may` lists what a role may do besides. Teams, queues and routing refer to each
other, so their cross-checks live in `check_references`, which the playbook root calls once all three
sections are valid. Places in error messages and in the `referenced_*` answers are paths from the
playbook root ("routing.rules[2].queue"), because these sections always sit at the top level.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from firebreak.conditions import Condition
from firebreak.core.durations import format_duration, parse_duration
from firebreak.core.validation import Location, refuse

Role = Literal["agent", "lead", "communications", "legal", "executive", "admin"]
# From the front line up; authority answers list approvers in this order when their limits tie.
ROLES: tuple[Role, ...] = get_args(Role)
Permission = Literal[
    "view", "respond", "assign_self", "assign", "set_waiting", "resolve", "close", "reopen", "escalate", "approve",
    "approve_legal", "publish", "override_gate", "edit_playbook", "manage_users", "open_issue", "write_content",
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)
Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
AssignmentStrategy = Literal["least_loaded", "round_robin", "manual"]
ASSIGNMENT_STRATEGIES: tuple[AssignmentStrategy, ...] = get_args(AssignmentStrategy)
OutsideHours = Literal["on_call", "hold"]

# A place in the playbook, as pydantic writes error locations: ("routing", "rules", 2, "queue").

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# A shift shorter than the largest daylight-saving jump could hand over "backwards" in real time.
MIN_SHIFT_SECONDS = 3600.0


def _email(value: str) -> str:
    cleaned = value.strip().lower()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise ValueError(f"{value!r} is not an e-mail address")
    return cleaned


# Stored lower-cased, as the accounts store e-mails, so a rotation finds its users whatever the case.
Email = Annotated[str, AfterValidator(_email)]


def _permission(value: Any) -> Any:
    if value not in PERMISSIONS:
        raise ValueError(f"unknown permission {value!r}; permissions are {', '.join(PERMISSIONS)}")
    return value


def _unknown_role(value: Any) -> Any:
    raise ValueError(f"unknown role; roles are {', '.join(ROLES)}")


def _someone(rotation: list[str]) -> list[str]:
    if not rotation:
        raise ValueError("an on-call rotation needs at least one person")
    return rotation


def _shift_seconds(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < MIN_SHIFT_SECONDS:
        raise ValueError(f"shift {value!r} is shorter than 1h; an on-call shift lasts at least an hour")
    return seconds


def _local_handover(value: Any) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text)  # a bare date: refused below for want of a time
        except ValueError:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"handover {text!r} is not a local date and time like '2026-01-05T09:00'") from None
    if not isinstance(value, date):
        raise ValueError(f"handover {value!r} is not a local date and time like '2026-01-05T09:00'")
    if not isinstance(value, datetime):
        raise ValueError(f"handover '{value.isoformat()}' needs a time of day, e.g. '{value.isoformat()}T09:00'")
    if value.tzinfo is not None:
        raise ValueError(f"handover '{value.isoformat()}' carries a UTC offset; write the local wall-clock time "
                         "and set `timezone`")
    return value


def _zone_name(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/London") from None
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Authority(_Strict):
    """What a role may offer or do on its own; money is in the workspace currency and 0 means none."""

    refund_up_to: float = Field(0, ge=0)
    goodwill_credit_up_to: float = Field(0, ge=0)
    replacement: bool = False
    public_apology: bool = False
    delete_post: bool = False
    hide_post: bool = False


class RoleSpec(_Strict):
    """One role: its display label, its authority and its permissions (besides view, which all have)."""

    label: str = Field("", max_length=80)
    authority: Authority = Authority()
    may: list[Annotated[Permission, BeforeValidator(_permission)]] = []


class RolesSpec(_Strict):
    """The `roles:` section: one entry per fixed role; a role left out may only view."""

    model_config = ConfigDict(extra="allow", frozen=True)
    # Unknown keys land here and each fails with the list of roles, at the key's own line.
    __pydantic_extra__: dict[str, Annotated[Any, BeforeValidator(_unknown_role)]]

    agent: RoleSpec = RoleSpec()
    lead: RoleSpec = RoleSpec()
    communications: RoleSpec = RoleSpec()
    legal: RoleSpec = RoleSpec()
    executive: RoleSpec = RoleSpec()
    admin: RoleSpec = RoleSpec()

    def role(self, name: str) -> RoleSpec:
        """Return the spec of a role; an unknown name is a programming error."""
        if name not in ROLES:
            raise ValueError(f"unknown role {name!r}; roles are {', '.join(ROLES)}")
        spec: RoleSpec = getattr(self, name)
        return spec

    @cached_property
    def grants(self) -> dict[str, frozenset[str]]:
        """Return each role's permissions, view included, for quick checks."""
        return {name: frozenset(("view", *self.role(name).may)) for name in ROLES}


class OnCallSpec(_Strict):
    """A rotation of people taking turns, each for one `shift`, from a local handover moment.

    Handovers are `handover` plus whole shifts counted in local wall-clock time, so a weekly rotation
    hands over on Monday at 09:00 local time in winter and in summer (see `routing.oncall`).
    """

    rotation: Annotated[list[Email], AfterValidator(_someone)]
    shift: Annotated[float, BeforeValidator(_shift_seconds)]
    handover: Annotated[datetime, BeforeValidator(_local_handover)]
    timezone: Annotated[str, AfterValidator(_zone_name)]

    @cached_property
    def zone(self) -> ZoneInfo:
        """Return the time zone the handover is read in."""
        return ZoneInfo(self.timezone)

    @cached_property
    def shift_delta(self) -> timedelta:
        """Return the shift as a timedelta, for wall-clock arithmetic."""
        return timedelta(seconds=self.shift)

    def describe(self) -> str:
        """Return the rotation in words, for `playbook check` and the team page."""
        return (f"{', '.join(self.rotation)} in turn, {format_duration(self.shift)} each, "
                f"handing over at {self.handover:%H:%M} {self.timezone} from {self.handover:%Y-%m-%d}")


class TeamSpec(_Strict):
    """People who work queues together, on one calendar of opening hours."""

    id: Id
    label: str = Field("", max_length=80)
    calendar: Id
    on_call: OnCallSpec | None = None


class QueueSpec(_Strict):
    """A list of work for one team, with how new work is handed out and what happens out of hours."""

    id: Id
    label: str = Field("", max_length=80)
    team: Id
    assignment: AssignmentStrategy = "least_loaded"
    # Out of the team's hours: give the work to the on-call person, or hold it until the team opens.
    outside_hours: OutsideHours = "hold"
    # Who may be given this queue's work: a legal reviewer cannot take a customer complaint.
    assignable_roles: list[Role] = Field(default_factory=lambda: ["agent", "lead"], min_length=1)


class AlsoNotify(_Strict):
    """Who hears about a routed mention besides its queue: alert targets and people."""

    targets: list[Id] = []
    users: list[Email] = []


class RoutingRule(_Strict):
    """If `when` holds, the mention goes to `queue` with `priority`."""

    id: Id
    when: Condition
    queue: Id
    priority: Priority = "normal"
    also_notify: AlsoNotify = AlsoNotify()


class RoutingSpec(_Strict):
    """The `routing:` section: rules tested in order (first match wins), else the default queue."""

    default_queue: Id
    rules: list[RoutingRule] = []

    @model_validator(mode="after")
    def _rule_ids_unique(self) -> RoutingSpec:
        first: dict[str, int] = {}
        problems: list[tuple[Location, str, Any]] = []
        for index, rule in enumerate(self.rules):
            if rule.id in first:
                problems.append((("rules", index, "id"), f"rule id {rule.id!r} is also rules[{first[rule.id]}]; "
                                 "rule ids must be unique", rule.id))
            first.setdefault(rule.id, index)
        refuse("RoutingSpec", problems)
        return self

    def referenced_categories(self) -> dict[str, str]:
        """Return each category id a rule's `when` tests, with the first place it is tested."""
        found: dict[str, str] = {}
        for index, rule in enumerate(self.rules):
            for category in rule.when.values_of("category"):
                found.setdefault(category, f"routing.rules[{index}].when")
        return found

    def referenced_targets(self) -> dict[str, str]:
        """Return each alert target id the rules notify, with the first place it is named."""
        found: dict[str, str] = {}
        for index, rule in enumerate(self.rules):
            for number, target in enumerate(rule.also_notify.targets):
                found.setdefault(target, f"routing.rules[{index}].also_notify.targets[{number}]")
        return found

    def warnings(self) -> list[str]:
        """Return rules that can never match because a catch-all rule comes before them."""
        catch_all = next((index for index, rule in enumerate(self.rules) if rule.when == Condition()), None)
        if catch_all is None:
            return []
        return [f"routing.rules[{index}] ({rule.id}) never matches: rules[{catch_all}] "
                f"({self.rules[catch_all].id}) matches every mention before it"
                for index, rule in enumerate(self.rules) if index > catch_all]


def referenced_calendars(teams: Iterable[TeamSpec]) -> dict[str, str]:
    """Return each calendar id the teams use, with the first team that uses it."""
    found: dict[str, str] = {}
    for index, team in enumerate(teams):
        found.setdefault(team.calendar, f"teams[{index}].calendar")
    return found


def referenced_users(teams: Iterable[TeamSpec], routing: RoutingSpec) -> dict[str, str]:
    """Return each e-mail the on-call rotations and the rules name, with the first place it appears.

    The playbook loads without those users existing (a fresh install has none); the workflow should
    report the missing ones where people can fix them.
    """
    found: dict[str, str] = {}
    for index, team in enumerate(teams):
        for number, email in enumerate(team.on_call.rotation if team.on_call else ()):
            found.setdefault(email, f"teams[{index}].on_call.rotation[{number}]")
    for index, rule in enumerate(routing.rules):
        for number, email in enumerate(rule.also_notify.users):
            found.setdefault(email, f"routing.rules[{index}].also_notify.users[{number}]")
    return found


def check_references(*, teams: Sequence[TeamSpec], queues: Sequence[QueueSpec], routing: RoutingSpec) -> None:
    """Refuse repeated team and queue ids and names of teams or queues that do not exist.

    Raises a pydantic ValidationError whose locations start at the playbook's top-level keys (teams,
    queues, routing); call it from the playbook root's after-validator.
    """
    problems: list[tuple[Location, str, Any]] = []
    teams_by_id: dict[str, TeamSpec] = {}
    for index, team in enumerate(teams):
        if team.id in teams_by_id:
            problems.append((("teams", index, "id"), f"team id {team.id!r} is used twice; team ids must be unique",
                             team.id))
        teams_by_id.setdefault(team.id, team)
    queue_ids: set[str] = set()
    for index, queue in enumerate(queues):
        if queue.id in queue_ids:
            problems.append((("queues", index, "id"),
                             f"queue id {queue.id!r} is used twice; queue ids must be unique", queue.id))
        queue_ids.add(queue.id)
        team = teams_by_id.get(queue.team)
        if team is None:
            problems.append((("queues", index, "team"), f"unknown team {queue.team!r}; "
                             f"teams are {_listing(teams_by_id)}", queue.team))
        elif queue.outside_hours == "on_call" and team.on_call is None:
            problems.append((("queues", index, "outside_hours"),
                             f"on_call needs team {team.id!r} to have an on_call rotation; "
                             "give it one or use outside_hours: hold", queue.outside_hours))
    if routing.default_queue not in queue_ids:
        problems.append((("routing", "default_queue"), f"unknown queue {routing.default_queue!r}; "
                         f"queues are {_listing(queue_ids)}", routing.default_queue))
    for index, rule in enumerate(routing.rules):
        if rule.queue not in queue_ids:
            problems.append((("routing", "rules", index, "queue"), f"unknown queue {rule.queue!r}; "
                             f"queues are {_listing(queue_ids)}", rule.queue))
    refuse("Playbook", problems)


def _listing(ids: Iterable[str]) -> str:
    return ", ".join(sorted(ids)) or "(none defined)"
