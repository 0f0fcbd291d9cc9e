"""The `when:` language of the playbook: one way to test a mention, shared by the assessment tree,
routing rules and SLA policies, so a brand learns it once.

A condition is a mapping of facts to what they must be; every key given must hold (an empty mapping
always holds). Lists mean "any of"; a single value is read as a one-item list. Numbers take a range.

    when:
      flag: red                          # or [red, yellow]
      category: [legal_threat, security]
      author_tags: [key_customer]        # the author has any of these tags
      author_followers: {gte: 50000}
      unanswered_replies: {gte: 3}
      any: [{channel_kind: news}, {author_tags: journalist}]
      not: {language: en}

Conditions are compiled once into plain predicates over a `Facts` mapping, because routing and SLA
matching run for every mention at pipeline speed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]

# Facts a condition can test, and what each holds. The workflow builds one mapping per mention.
TEXT_FACTS = {
    "flag": "triage flag: green, yellow or red",
    "category": "triage category id",
    "category_group": "potential_crisis, customer_support or general",
    "sentiment": "negative, neutral or positive",
    "intent": "question, complaint, praise, request, ... (triage intent; may be absent)",
    "channel": "the channel's slug",
    "channel_kind": "x, facebook, reddit, news, blog, forum, webhook, ...",
    "language": "ISO 639-1 code, e.g. en",
    "priority": "urgent, high, normal or low (set by routing)",
    "direction": "inbound or outbound",
}
SET_FACTS = {"author_tags": "tags on the author (key_customer, journalist, employee, troll, ...)"}
BOOL_FACTS = {
    "offensive": "the offensive model fired",
    "author_verified": "the network verified the author",
    "is_reply": "the post replies to another post",
}
NUMBER_FACTS = {
    "author_followers": "the author's follower count",
    "confidence": "triage confidence, 0 to 1",
    "unanswered_replies": "earlier posts by this author in the thread the brand has not answered",
    "author_recent_posts": "posts by this author in the last 7 days",
    "author_recent_negative": "negative posts by this author in the last 7 days",
    "thread_length": "posts in the thread so far",
}
ALL_FACTS = {**TEXT_FACTS, **SET_FACTS, **BOOL_FACTS, **NUMBER_FACTS}
# Facts whose values are a fixed set, so a typo ("postive") is refused instead of never matching.
CLOSED_VALUES = {
    "flag": ("green", "yellow", "red"),
    "sentiment": ("negative", "neutral", "positive"),
    "category_group": ("potential_crisis", "customer_support", "general"),
    "priority": ("urgent", "high", "normal", "low"),
    "direction": ("inbound", "outbound"),
}


class Range(BaseModel):
    """Bounds on a number; any of gte / gt / lte / lt, at least one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> Range:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise ValueError("a range needs at least one of gte, gt, lte, lt")
        return self

    def holds(self, value: float) -> bool:
        return not (
            (self.gte is not None and value < self.gte)
            or (self.gt is not None and value <= self.gt)
            or (self.lte is not None and value > self.lte)
            or (self.lt is not None and value >= self.lt)
        )

    def describe(self) -> str:
        parts = [f"{op} {bound:g}" for op, bound in ((">=", self.gte), (">", self.gt), ("<=", self.lte),
                                                      ("<", self.lt)) if bound is not None]
        return " and ".join(parts)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value


class Condition(BaseModel):
    """What a mention must look like; see the module docstring for the language."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    flag: list[str] | None = None
    category: list[str] | None = None
    category_group: list[str] | None = None
    sentiment: list[str] | None = None
    intent: list[str] | None = None
    channel: list[str] | None = None
    channel_kind: list[str] | None = None
    language: list[str] | None = None
    priority: list[str] | None = None
    direction: list[str] | None = None
    author_tags: list[str] | None = None
    offensive: bool | None = None
    author_verified: bool | None = None
    is_reply: bool | None = None
    author_followers: Range | None = None
    confidence: Range | None = None
    unanswered_replies: Range | None = None
    author_recent_posts: Range | None = None
    author_recent_negative: Range | None = None
    thread_length: Range | None = None
    any_of: list[Condition] | None = Field(None, alias="any", min_length=1)
    all_of: list[Condition] | None = Field(None, alias="all", min_length=1)
    none_of: Condition | None = Field(None, alias="not")

    @field_validator(*TEXT_FACTS, *SET_FACTS, mode="before")
    @classmethod
    def _single_value_is_a_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator(*TEXT_FACTS, *SET_FACTS)
    @classmethod
    def _lists_not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("an empty list matches nothing; leave the key out instead")
        return value

    @field_validator(*CLOSED_VALUES)
    @classmethod
    def _known_values(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        allowed = CLOSED_VALUES[info.field_name or ""]
        for given in value or []:
            if given not in allowed:
                raise ValueError(f"unknown {info.field_name} {given!r}; use {', '.join(allowed)}")
        return value

    def compile(self) -> Predicate:
        """Return a fast predicate over facts; a missing fact fails every test that needs it."""
        tests: list[Predicate] = []
        for name in TEXT_FACTS:
            allowed = getattr(self, name)
            if allowed is not None:
                tests.append(_member_test(name, frozenset(allowed)))
        if self.author_tags is not None:
            wanted = frozenset(self.author_tags)
            tests.append(lambda facts: not wanted.isdisjoint(facts.get("author_tags") or ()))
        for name in BOOL_FACTS:
            expected = getattr(self, name)
            if expected is not None:
                tests.append(_bool_test(name, expected))
        for name in NUMBER_FACTS:
            bounds = getattr(self, name)
            if bounds is not None:
                tests.append(_range_test(name, bounds))
        if self.any_of is not None:
            tests.append(_any([c.compile() for c in self.any_of]))
        if self.all_of is not None:
            tests.append(_all([c.compile() for c in self.all_of]))
        if self.none_of is not None:
            negated = self.none_of.compile()
            tests.append(lambda facts: not negated(facts))
        return _all(tests)

    def describe(self) -> str:
        """Return the condition in words, for the assessment path and `playbook check` output."""
        parts = []
        for name in TEXT_FACTS:
            allowed = getattr(self, name)
            if allowed is not None:
                parts.append(f"{name} is {' or '.join(allowed)}")
        if self.author_tags is not None:
            parts.append(f"author tagged {' or '.join(self.author_tags)}")
        for name in BOOL_FACTS:
            expected = getattr(self, name)
            if expected is not None:
                parts.append(name if expected else f"not {name}")
        for name in NUMBER_FACTS:
            bounds = getattr(self, name)
            if bounds is not None:
                parts.append(f"{name} {bounds.describe()}")
        if self.any_of is not None:
            parts.append("any of (" + "; ".join(c.describe() for c in self.any_of) + ")")
        if self.all_of is not None:
            parts.append("all of (" + "; ".join(c.describe() for c in self.all_of) + ")")
        if self.none_of is not None:
            parts.append(f"not ({self.none_of.describe()})")
        return " and ".join(parts) if parts else "always"

    def values_of(self, fact: str) -> Iterator[str]:
        """Yield every value this condition (and its nested ones) compares `fact` with, for cross-checks."""
        yield from getattr(self, fact, None) or ()
        for nested in (*(self.any_of or ()), *(self.all_of or ()), *((self.none_of,) if self.none_of else ())):
            yield from nested.values_of(fact)


def _always(facts: Facts) -> bool:
    return True


def _all(tests: list[Predicate]) -> Predicate:
    """Chain tests with plain `and` (a generator per call costs more than the tests themselves)."""
    if not tests:
        return _always
    first, *rest = tests
    if not rest:
        return first
    second = _all(rest)
    return lambda facts: first(facts) and second(facts)


def _any(tests: list[Predicate]) -> Predicate:
    first, *rest = tests
    if not rest:
        return first
    second = _any(rest)
    return lambda facts: first(facts) or second(facts)


def _member_test(name: str, allowed: frozenset[str]) -> Predicate:
    return lambda facts: facts.get(name) in allowed


def _bool_test(name: str, expected: bool) -> Predicate:
    return lambda facts: bool(facts.get(name)) is expected


def _range_test(name: str, bounds: Range) -> Predicate:
    def test(facts: Facts) -> bool:
        value = facts.get(name)
        return value is not None and bounds.holds(value)

    return test
