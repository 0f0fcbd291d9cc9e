"""Pydantic models of the playbook's `sla:` section: response-time goals and who hears of a breach.

    sla:
      warn_at: 0.75                  # warn when this fraction of a target has been used (0 < x < 1)
      policies:                      # first match wins; end with a catch-all (when: {})
        - id: red
          label: Red flags, around the clock
          when: {flag: red}
          calendar: always           # calendar id: the clock runs in this calendar's business time
          first_response: 5m         # any of the three may be left out: no clock of that kind
          next_response: 15m
          resolution: 8h
      escalation:                    # levels after a breach, in order of `after`
        - {after: 0m, notify: [assignee]}
        - {after: 15m, notify: [team_lead]}
        - {after: 30m, notify: [on_call, crisis_email]}

Durations are written with units ("5m", "1h30m") and stored as seconds. In `notify`, assignee,
team_lead and on_call are people found at breach time; any other entry is an alert target id. Places
in error messages and in the `referenced_*` answers are paths from the playbook root ("sla.policies[1]").
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from firebreak.conditions import Condition
from firebreak.core.durations import format_duration, parse_duration
from firebreak.core.validation import refuse

Metric = Literal["first_response", "next_response", "resolution"]
METRICS: tuple[Metric, ...] = get_args(Metric)
NotifyKeyword = Literal["assignee", "team_lead", "on_call"]
NOTIFY_KEYWORDS: tuple[NotifyKeyword, ...] = get_args(NotifyKeyword)

_ID = r"^[a-z][a-z0-9_]{0,47}$"
Id = Annotated[str, Field(pattern=_ID)]
_TARGET_ID = re.compile(_ID)


def _target_seconds(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be longer than zero")
    return seconds


def _notify_entry(value: Any) -> Any:
    if not isinstance(value, str) or (value not in NOTIFY_KEYWORDS and not _TARGET_ID.fullmatch(value)):
        raise ValueError(f"{value!r} is neither {', '.join(NOTIFY_KEYWORDS)} nor an alert target id")
    return value


# Seconds; the playbook writes "5m", "1h30m" (bare numbers are refused: their unit would be a guess).
TargetSeconds = Annotated[float, BeforeValidator(_target_seconds)]
DelaySeconds = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaPolicySpec(_Strict):
    """Response-time targets for the mentions `when` matches, measured on one calendar."""

    id: Id
    label: str = Field("", max_length=80)
    when: Condition
    calendar: Id
    first_response: TargetSeconds | None = None
    next_response: TargetSeconds | None = None
    resolution: TargetSeconds | None = None

    @model_validator(mode="after")
    def _has_a_clock(self) -> SlaPolicySpec:
        if self.first_response is None and self.next_response is None and self.resolution is None:
            raise ValueError(f"policy {self.id!r} sets no target; give first_response, next_response or resolution")
        return self

    def targets(self) -> dict[str, float]:
        """Return the seconds of each metric the policy sets, in METRICS order."""
        return {metric: seconds for metric in METRICS if (seconds := getattr(self, metric)) is not None}

    def describe(self) -> str:
        """Return the targets in words: 'first response 5m, resolution 8h on always'."""
        goals = ", ".join(f"{metric.replace('_', ' ')} {format_duration(seconds)}"
                          for metric, seconds in self.targets().items())
        return f"{goals} on {self.calendar}"


class EscalationLevel(_Strict):
    """Who to tell once a target has been missed by `after`."""

    after: DelaySeconds
    notify: list[Annotated[str, BeforeValidator(_notify_entry)]] = Field(min_length=1)


class SlaSpec(_Strict):
    """The `sla:` section: when to warn, the policies (first match wins) and the escalation levels."""

    warn_at: float = 0.75
    policies: list[SlaPolicySpec] = Field(min_length=1)
    escalation: list[EscalationLevel] = []

    @field_validator("warn_at")
    @classmethod
    def _a_fraction(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"warn_at {value:g} must be between 0 and 1 (the fraction of a target used)")
        return value

    @model_validator(mode="after")
    def _ids_unique_and_levels_in_order(self) -> SlaSpec:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        first: dict[str, int] = {}
        for index, policy in enumerate(self.policies):
            if policy.id in first:
                problems.append((("policies", index, "id"), f"policy id {policy.id!r} is also policies"
                                 f"[{first[policy.id]}]; policy ids must be unique", policy.id))
            first.setdefault(policy.id, index)
        for index in range(1, len(self.escalation)):
            before, level = self.escalation[index - 1].after, self.escalation[index].after
            if level <= before:
                problems.append((("escalation", index, "after"),
                                 f"{format_duration(level)} is not later than the level before it "
                                 f"({format_duration(before)}); list levels in order of `after`", level))
        refuse("SlaSpec", problems)
        return self

    def referenced_calendars(self) -> dict[str, str]:
        """Return each calendar id the policies use, with the first place it is named."""
        found: dict[str, str] = {}
        for index, policy in enumerate(self.policies):
            found.setdefault(policy.calendar, f"sla.policies[{index}].calendar")
        return found

    def referenced_categories(self) -> dict[str, str]:
        """Return each category id a policy's `when` tests, with the first place it is tested."""
        found: dict[str, str] = {}
        for index, policy in enumerate(self.policies):
            for category in policy.when.values_of("category"):
                found.setdefault(category, f"sla.policies[{index}].when")
        return found

    def referenced_targets(self) -> dict[str, str]:
        """Return each alert target id the escalation levels notify, with the first place it is named."""
        found: dict[str, str] = {}
        for index, level in enumerate(self.escalation):
            for number, entry in enumerate(level.notify):
                if entry not in NOTIFY_KEYWORDS:
                    found.setdefault(entry, f"sla.escalation[{index}].notify[{number}]")
        return found

    def warnings(self) -> list[str]:
        """Return what loads but is probably a mistake: no catch-all last, or policies after a catch-all."""
        catch_all = next((index for index, policy in enumerate(self.policies) if policy.when == Condition()), None)
        if catch_all is None:
            last = self.policies[-1]
            return [f"sla.policies[{len(self.policies) - 1}] ({last.id}) is not a catch-all, so a mention no "
                    "policy matches gets no response-time goal; end with a policy whose when is {}"]
        return [f"sla.policies[{index}] ({policy.id}) never matches: policies[{catch_all}] "
                f"({self.policies[catch_all].id}) matches every mention before it"
                for index, policy in enumerate(self.policies) if index > catch_all]
