"""The playbook's `when:` language: what a condition matches, how it reads, and what it refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from firebreak.conditions import Condition


def check(spec: dict, facts: dict) -> bool:  # type: ignore[type-arg]
    return Condition.model_validate(spec).compile()(facts)


def test_an_empty_condition_always_holds() -> None:
    assert check({}, {})
    assert Condition().describe() == "always"


def test_every_key_must_hold_and_lists_mean_any_of() -> None:
    spec = {"flag": ["red", "yellow"], "category": "legal_threat"}
    assert check(spec, {"flag": "yellow", "category": "legal_threat"})
    assert not check(spec, {"flag": "green", "category": "legal_threat"})
    assert not check(spec, {"flag": "red", "category": "praise"})


def test_a_missing_fact_fails_the_test_that_needs_it() -> None:
    assert not check({"language": "en"}, {})
    assert not check({"author_followers": {"gte": 10}}, {})


def test_author_tags_match_when_any_tag_is_shared() -> None:
    assert check({"author_tags": ["journalist", "key_customer"]}, {"author_tags": ("key_customer", "vip")})
    assert not check({"author_tags": "journalist"}, {"author_tags": ()})


def test_ranges_booleans_and_nesting() -> None:
    spec = {"author_followers": {"gte": 50_000, "lt": 1_000_000}, "offensive": False,
            "any": [{"channel_kind": "news"}, {"author_tags": "journalist"}], "not": {"language": "de"}}
    facts = {"author_followers": 60_000, "offensive": False, "channel_kind": "news", "language": "en"}
    assert check(spec, facts)
    assert not check(spec, {**facts, "author_followers": 2_000_000})
    assert not check(spec, {**facts, "offensive": True})
    assert not check(spec, {**facts, "channel_kind": "x"})
    assert not check(spec, {**facts, "language": "de"})
    assert check({"all": [{"flag": "red"}, {"is_reply": True}]}, {"flag": "red", "is_reply": True})


def test_describe_reads_as_words() -> None:
    condition = Condition.model_validate({"flag": "red", "unanswered_replies": {"gte": 3}, "not": {"language": "en"}})
    assert condition.describe() == "flag is red and unanswered_replies >= 3 and not (language is en)"


def test_values_of_finds_nested_categories() -> None:
    condition = Condition.model_validate({"any": [{"category": "a"}, {"not": {"category": ["b", "c"]}}]})
    assert sorted(condition.values_of("category")) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"flg": "red"}, "flg"),
        ({"flag": "purple"}, "unknown flag 'purple'; use green, yellow, red"),
        ({"sentiment": "postive"}, "unknown sentiment 'postive'"),
        ({"priority": "asap"}, "unknown priority 'asap'"),
        ({"category": []}, "an empty list matches nothing"),
        ({"author_followers": {}}, "a range needs at least one of"),
        ({"any": []}, "at least 1 item"),
    ],
)
def test_mistakes_are_refused_with_a_message(spec: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError, match=message):
        Condition.model_validate(spec)
