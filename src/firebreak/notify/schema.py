"""Pydantic models of the playbook's `alerts:` section: where alerts go and how often.

    alerts:
      targets:
        - id: crisis_email
          label: Crisis team inbox
          url_env: FIREBREAK_ALERT_CRISIS_EMAIL    # the apprise URL is a secret, so it lives in the environment
          kinds: [red_flag, sla_breach]            # default: every kind
          rate_limit: {count: 20, per: "10m"}      # default: 30 messages per 10 minutes
        - id: ops_hook
          url: "json://127.0.0.1:8080/hook"        # a URL without secrets may be written inline
      red_flag: [crisis_email]                     # the targets of red-flag alerts

Other alert kinds (SLA warnings, breaches, escalations, issues) go to every target whose `kinds`
include them; red flags go only to the targets listed under `red_flag`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from firebreak.core.durations import parse_duration
from firebreak.core.errors import ConfigurationError

AlertKind = Literal["red_flag", "sla_warning", "sla_breach", "escalation", "issue"]
ALERT_KINDS: tuple[AlertKind, ...] = get_args(AlertKind)

TargetId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
# Any apprise scheme (mailto, json, slack, msteams…); apprise itself judges the rest when sending.
_APPRISE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(Strict):
    """At most `count` messages to one target within any `per` window."""

    count: int = Field(30, ge=1)
    per: timedelta = timedelta(minutes=10)

    @field_validator("per", mode="before")
    @classmethod
    def _parse_per(cls, value: timedelta | str | float) -> timedelta:
        # Bare numbers are refused by parse_duration: "10" could be seconds or minutes.
        seconds = value.total_seconds() if isinstance(value, timedelta) else parse_duration(value)
        if seconds <= 0:
            raise ValueError(f"rate limit window {value!r} must be longer than zero")
        return timedelta(seconds=seconds)


class TargetSpec(Strict):
    """One place alerts are sent: an apprise URL, written inline or named by an environment variable."""

    id: TargetId
    label: str = Field("", max_length=80)
    url: str | None = Field(None, max_length=2000)
    url_env: EnvName | None = None
    kinds: list[AlertKind] = Field(default_factory=lambda: list(ALERT_KINDS), min_length=1)
    rate_limit: RateLimit = RateLimit()

    @field_validator("url")
    @classmethod
    def _looks_like_apprise(cls, url: str | None) -> str | None:
        if url is not None and not _APPRISE_URL.match(url):
            raise ValueError(f"{url!r} is not an apprise URL such as 'json://host/path' or 'mailto://host'")
        return url

    @model_validator(mode="after")
    def _one_url(self) -> TargetSpec:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"target {self.id!r} needs exactly one of url (inline) or url_env (an environment "
                             "variable holding the URL)")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"target {self.id!r} lists a kind twice in kinds")
        return self

    def accepts(self, kind: str) -> bool:
        """Return whether this target receives alerts of `kind`."""
        return kind in self.kinds

    def resolve_url(self, environ: Mapping[str, str]) -> str:
        """Return the apprise URL, reading `url_env` from `environ` at the moment of sending."""
        if self.url is not None:
            return self.url
        assert self.url_env is not None  # the validator guarantees one of the two
        value = environ.get(self.url_env, "").strip()
        if not value:
            raise ConfigurationError(f"{self.url_env} is not set (the apprise URL of alert target {self.id!r})")
        return value


class AlertsConfig(Strict):
    """The `alerts:` section: the targets and which of them receive red flags."""

    targets: list[TargetSpec] = []
    red_flag: list[TargetId] = []

    @model_validator(mode="after")
    def _references_exist(self) -> AlertsConfig:
        ids = [t.id for t in self.targets]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"alert target ids must be unique; repeated: {', '.join(duplicates)}")
        unknown = [i for i in self.red_flag if i not in ids]
        if unknown:
            raise ValueError(f"red_flag names unknown alert targets: {', '.join(unknown)} "
                             f"(defined: {', '.join(ids) or 'none'})")
        if len(set(self.red_flag)) != len(self.red_flag):
            raise ValueError("red_flag lists a target twice")
        deaf = [t.id for t in self.targets if t.id in self.red_flag and not t.accepts("red_flag")]
        if deaf:
            raise ValueError(f"red_flag lists targets whose kinds leave out red_flag: {', '.join(deaf)}")
        return self

    @cached_property
    def by_id(self) -> dict[str, TargetSpec]:
        """Targets keyed by id, as `AlertDispatcher` takes them."""
        return {t.id: t for t in self.targets}

    def targets_for(self, kind: AlertKind) -> list[str]:
        """Return the ids of the targets an alert of `kind` goes to."""
        if kind == "red_flag":
            return list(self.red_flag)
        return [t.id for t in self.targets if t.accepts(kind)]
