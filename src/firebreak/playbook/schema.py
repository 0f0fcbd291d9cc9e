"""Pydantic models of the playbook YAML; unknown keys are errors so typos never pass silently.

Top-level sections (later capabilities add theirs beside these):

    playbook:  name and version of this playbook
    risk:      the traffic-light guide — categories with flag, group and signals; author, source,
               thread and model rules
    examples:  texts with the flag / category they must get, run by `firebreak playbook check`
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

    @model_validator(mode="after")
    def _expects_something(self) -> Example:
        if self.flag is None and self.category is None:
            raise ValueError("an example must give a flag, a category or both")
        return self


class PlaybookMeta(Strict):
    name: str = Field(min_length=1)
    version: str | int = 1


class Playbook(Strict):
    playbook: PlaybookMeta
    risk: RiskGuide
    examples: list[Example] = []

    @model_validator(mode="after")
    def _examples_use_known_categories(self) -> Playbook:
        known = {c.id for c in self.risk.categories}
        for index, example in enumerate(self.examples):
            if example.category is not None and example.category not in known:
                raise ValueError(f"examples[{index}] expects unknown category {example.category!r}")
        return self

    def category(self, category_id: str) -> CategorySpec:
        """Return the category with this id (it must exist)."""
        for spec in self.risk.categories:
            if spec.id == category_id:
                return spec
        raise KeyError(category_id)
