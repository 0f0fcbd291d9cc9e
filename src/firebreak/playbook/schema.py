"""Pydantic models of the playbook YAML; unknown keys are errors so typos never pass silently.

Top-level sections (later capabilities add theirs beside these):

    playbook:    name and version of this playbook
    risk:        the traffic-light guide — categories with flag, group and signals; author, source,
                 thread and model rules
    assessment:  the response-assessment tree (firebreak.assessment)
    calendars:   business hours, time zones and holidays (firebreak.calendars)
    roles:       what each of the six roles may do and offer (firebreak.routing)
    teams, queues, routing:  who works what, and which mention goes where (firebreak.routing)
    sla:         response-time policies and escalation levels (firebreak.sla)
    alerts:      where alerts go (firebreak.notify)
    issues:      the rapid-response lifecycle: stages, time goals, checklists, gates, texts (firebreak.lifecycle)
    replies:     saved replies to a mention, name -> text with {author} and {brand} (firebreak.workflow.responses)
    examples:    texts with the flag / category / action they must get, run by `firebreak playbook check`

The sections after `risk` may be left out: the loader then takes them from the shipped default.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from firebreak.assessment import AssessmentSpec
from firebreak.calendars import CalendarSpec, validate_calendar_ids
from firebreak.core.validation import Location, location_of, refuse
from firebreak.lifecycle import IssuesSpec, placeholders
from firebreak.notify.schema import AlertsConfig
from firebreak.routing import QueueSpec, RolesSpec, RoutingSpec, TeamSpec, check_references, referenced_calendars
from firebreak.sla import SlaSpec

FlagName = Literal["green", "yellow", "red"]
CategoryId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategorySpec(Strict):
    """One category of the risk guide and the signals that point to it."""

    id: CategoryId
    label: str = Field(min_length=1, max_length=80)
    flag: FlagName
    group: Literal["potential_crisis", "customer_support", "general"] = "general"
    description: str = ""
    phrases: list[Annotated[str, Field(min_length=2, max_length=120)]] = []
    patterns: list[Annotated[str, Field(min_length=1, max_length=400)]] = []
    # Phrases that look like a hit but are not ("killer deal"): a hit inside one is dropped.
    exclusions: list[Annotated[str, Field(min_length=2, max_length=120)]] = []
    # Drop a hit preceded closely by a negation ("I'm not going to sue").
    negatable: bool = False
    # The classifier may assign this category (False for categories only rules or authors decide).
    model: bool = True

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return patterns


class AuthorRules(Strict):
    """How who is speaking changes the flag."""

    influencer_followers: int = Field(50_000, ge=1)
    influencer_category: CategoryId | None = "influencer_negative"
    employee_category: CategoryId | None = "employee_negative"
    journalist_min_flag: FlagName = "yellow"
    troll_tags: list[str] = ["troll"]


class SourceRules(Strict):
    """How where it was said changes the flag."""

    news_channel_kinds: list[str] = ["news"]
    blog_channel_kinds: list[str] = ["blog"]
    news_domains: list[str] = []
    negative_news_category: CategoryId | None = "negative_news"
    negative_media_category: CategoryId | None = "negative_media"


class ThreadRules(Strict):
    """How an author's recent history changes the flag."""

    repeat_complaints: int = Field(3, ge=2, description="This many negative posts by one author raise the flag")
    window_days: int = Field(7, ge=1)
    repeat_min_flag: FlagName = "yellow"


class ModelRules(Strict):
    """When model outputs count."""

    category_min_confidence: float = Field(0.25, ge=0, le=1)
    # Red categories count at a lower probability: a missed red costs far more than a false alarm.
    red_min_confidence: float = Field(0.25, ge=0, le=1)
    # A red that is only the classifier's second or third guess needs more.
    runner_up_red_min_confidence: float = Field(0.4, ge=0, le=1)
    offensive_threshold: float = Field(0.7, ge=0, le=1)
    negative_threshold: float = Field(0.5, ge=0, le=1)
    # Category for an offensive post that matched nothing else (None: offensive only adds a reason).
    offensive_category: CategoryId | None = None


class RiskGuide(Strict):
    categories: list[CategorySpec] = Field(min_length=1)
    default_category: CategoryId = "general"
    authors: AuthorRules = AuthorRules()
    sources: SourceRules = SourceRules()
    threads: ThreadRules = ThreadRules()
    models: ModelRules = ModelRules()

    @model_validator(mode="after")
    def _references_exist(self) -> RiskGuide:
        ids = [c.id for c in self.categories]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"category ids must be unique; repeated: {', '.join(duplicates)}")
        known = set(ids)
        refs = {
            "default_category": self.default_category,
            "authors.influencer_category": self.authors.influencer_category,
            "authors.employee_category": self.authors.employee_category,
            "sources.negative_news_category": self.sources.negative_news_category,
            "sources.negative_media_category": self.sources.negative_media_category,
            "models.offensive_category": self.models.offensive_category,
        }
        for where, ref in refs.items():
            if ref is not None and ref not in known:
                raise ValueError(f"{where} names unknown category {ref!r}")
        return self


class ExampleAuthor(Strict):
    handle: str = "example"
    followers: int | None = None
    tags: list[str] = []


class Example(Strict):
    """A text and what triage must make of it."""

    text: str = Field(min_length=1)
    flag: FlagName | None = None
    category: CategoryId | None = None
    channel_kind: str = "x"
    author: ExampleAuthor | None = None
    # The assessment tree's recommended action for this text (escalate, rectify, take_private, ...).
    action: str | None = None

    @model_validator(mode="after")
    def _expects_something(self) -> Example:
        if self.flag is None and self.category is None and self.action is None:
            raise ValueError("an example must give a flag, a category, an action or some of them")
        return self


# Saved replies: a name people pick from ("take-it-private"), and a text filled in for the mention.
ReplyName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,47}$")]
REPLY_PLACEHOLDERS = frozenset({"author", "brand"})


def _reply_text(text: str) -> str:
    if not text.strip():
        raise ValueError("a saved reply needs some text")
    unknown = sorted(placeholders(text) - REPLY_PLACEHOLDERS)
    if unknown:
        names = ", ".join(f"{{{name}}}" for name in unknown)
        known = ", ".join(f"{{{name}}}" for name in sorted(REPLY_PLACEHOLDERS))
        raise ValueError(f"unknown placeholder {names}; known: {known}")
    return text


ReplyText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_reply_text)]


class PlaybookMeta(Strict):
    name: str = Field(min_length=1)
    version: str | int = 1


BUILT_IN_CALENDARS = frozenset({"always"})


class Playbook(Strict):
    playbook: PlaybookMeta
    risk: RiskGuide
    assessment: AssessmentSpec
    calendars: list[CalendarSpec] = []
    roles: RolesSpec = RolesSpec()
    teams: list[TeamSpec] = Field(min_length=1)
    queues: list[QueueSpec] = Field(min_length=1)
    routing: RoutingSpec
    sla: SlaSpec
    alerts: AlertsConfig = AlertsConfig()
    issues: IssuesSpec
    replies: dict[ReplyName, ReplyText] = {}
    examples: list[Example] = []

    @field_validator("calendars")
    @classmethod
    def _calendar_ids_unique(cls, calendars: list[CalendarSpec]) -> list[CalendarSpec]:
        return validate_calendar_ids(calendars)

    @model_validator(mode="after")
    def _examples_use_known_categories(self) -> Playbook:
        known = {c.id for c in self.risk.categories}
        for index, example in enumerate(self.examples):
            if example.category is not None and example.category not in known:
                raise ValueError(f"examples[{index}] expects unknown category {example.category!r}")
        actions = {outcome.action for outcome in self.assessment.outcomes}
        for index, example in enumerate(self.examples):
            if example.action is not None and example.action not in actions:
                raise ValueError(f"examples[{index}] expects action {example.action!r}, which no outcome of the "
                                 f"assessment tree gives (actions: {', '.join(sorted(actions))})")
        return self

    @model_validator(mode="after")
    def _sections_agree(self, info: ValidationInfo) -> Playbook:
        """Refuse names one section uses and another does not define: categories, calendars, targets."""
        check_references(teams=self.teams, queues=self.queues, routing=self.routing)
        inherited = (info.context or {}).get("inherited", frozenset())
        problems: list[tuple[Location, str, Any]] = []
        categories = {c.id for c in self.risk.categories}
        sources = {
            "assessment": {k: f"assessment.{v}" for k, v in self.assessment.referenced_categories().items()},
            "routing": self.routing.referenced_categories(),
            "sla": self.sla.referenced_categories(),
        }
        for section, references in sources.items():
            if section in inherited:
                continue  # the default's rules name the default's categories; unknown ones never match
            for category, where in references.items():
                if category not in categories:
                    problems.append((location_of(where), f"names unknown category {category!r}", category))
        calendars = {c.id for c in self.calendars} | BUILT_IN_CALENDARS
        referenced = {**referenced_calendars(self.teams), **self.sla.referenced_calendars(),
                      **self.issues.referenced_calendars()}
        for calendar, where in referenced.items():
            if calendar not in calendars:
                problems.append((location_of(where), f"unknown calendar {calendar!r}; calendars are "
                                 f"{', '.join(sorted(calendars))}", calendar))
        targets = {t.id for t in self.alerts.targets}
        for target, where in {**self.routing.referenced_targets(), **self.sla.referenced_targets()}.items():
            if target not in targets:
                problems.append((location_of(where), f"unknown alert target {target!r}; targets are "
                                 f"{', '.join(sorted(targets)) or '(none defined)'}", target))
        refuse("Playbook", problems)
        return self

    def category(self, category_id: str) -> CategorySpec:
        """Return the category with this id (it must exist)."""
        for spec in self.risk.categories:
            if spec.id == category_id:
                return spec
        raise KeyError(category_id)
