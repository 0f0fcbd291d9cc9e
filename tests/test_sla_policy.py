"""SLA policies: the `sla:` section validates with errors that name the field, and mentions find their policy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from firebreak.sla import METRICS, MatchedPolicy, SlaPolicies, SlaSpec

DEFAULT_PLAYBOOK = Path(__file__).resolve().parents[1] / "src/firebreak/playbook/defaults/default.yaml"
DEFAULT_SLA: dict[str, Any] = yaml.safe_load(DEFAULT_PLAYBOOK.read_text("utf-8"))["sla"]

WORKFLOW_FILE = Path(__file__).resolve().parents[1] / "src/firebreak/playbook/defaults/default.yaml"


class Root(BaseModel):
    """The section as the playbook root holds it."""

    model_config = ConfigDict(extra="forbid")

    sla: SlaSpec


def _path(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def problems(sla: dict[str, Any]) -> list[str]:
    """Return the errors as the playbook loader prints them (without file and line)."""
    try:
        Root.model_validate({"sla": sla})
    except ValidationError as exc:
        return [f"{_path(tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
    return []


def default() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_SLA)


def policies(spec: dict[str, Any] | None = None) -> SlaPolicies:
    return SlaPolicies.from_spec(SlaSpec.model_validate(spec or DEFAULT_SLA))


def test_defaults_follow_the_method():
    compiled = policies()
    red = compiled.match({"flag": "red", "category": "legal_threat"})
    assert red == MatchedPolicy(policy="red", calendar="always", first_response=300.0, next_response=900.0,
                                resolution=28800.0, warn_at=0.75, explanation="policy red: flag is red")
    yellow = compiled.match({"flag": "yellow"})
    assert (yellow.policy, yellow.calendar, yellow.targets()) == ("yellow", "always", {"first_response": 3600.0})
    for facts in ({"flag": "green"}, {}):
        green = compiled.match(facts)
        assert (green.policy, green.calendar, green.targets()) == ("green", "support_hours", {"first_response": 3600.0})
        assert green.explanation == "policy green: always"
    assert compiled.escalation_delays == (0.0, 900.0, 1800.0)
    assert [level.notify for level in compiled.escalation] == [["assignee"], ["team_lead"], ["on_call", "crisis"]]


def test_the_default_sla_has_no_warnings():
    assert SlaSpec.model_validate(DEFAULT_SLA).warnings() == []


def test_targets_come_in_metric_order():
    spec = default()
    spec["policies"][0] = {"id": "red", "when": {"flag": "red"}, "calendar": "always", "resolution": "1d",
                           "first_response": "90s"}
    matched = policies(spec).match({"flag": "red"})
    assert list(matched.targets().items()) == [("first_response", 90.0), ("resolution", 86400.0)]
    assert matched.next_response is None
    assert METRICS == ("first_response", "next_response", "resolution")


def test_policies_can_be_found_again_by_id():
    compiled = policies()
    assert compiled.get("red").next_response == 900.0
    assert compiled.get("retired") is None


def test_without_a_catch_all_some_mentions_get_no_policy_and_a_warning():
    spec = default()
    del spec["policies"][2]
    assert policies(spec).match({"flag": "green"}) is None
    assert SlaSpec.model_validate(spec).warnings() == [
        "sla.policies[1] (yellow) is not a catch-all, so a mention no policy matches gets no response-time goal; "
        "end with a policy whose when is {}"
    ]


def test_policies_after_a_catch_all_are_warned_about():
    spec = default()
    spec["policies"].append({"id": "late", "when": {"flag": "red"}, "calendar": "always", "first_response": "1m"})
    assert SlaSpec.model_validate(spec).warnings() == [
        "sla.policies[3] (late) never matches: policies[2] (green) matches every mention before it"
    ]


def test_first_match_wins_with_richer_conditions():
    spec = default()
    spec["policies"].insert(0, {"id": "vip", "when": {"author_tags": "key_customer", "not": {"flag": "green"}},
                                "calendar": "always", "first_response": "2m"})
    compiled = policies(spec)
    assert compiled.match({"flag": "red", "author_tags": ["key_customer"]}).policy == "vip"
    assert compiled.match({"flag": "green", "author_tags": ["key_customer"]}).policy == "green"
    assert compiled.match({"flag": "red", "author_tags": []}).policy == "red"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("policies", 1, "first_response"), "-5m", "sla.policies[1].first_response: duration '-5m' is negative"),
        (("policies", 0, "resolution"), "0m", "sla.policies[0].resolution: duration '0m' must be longer than zero"),
        (("policies", 0, "next_response"), 15,
         "sla.policies[0].next_response: duration 15 needs a unit: write e.g. '30s', '5m', '2h', '1d' or '1w'"),
        (("policies", 0, "next_response"), "soon",
         "sla.policies[0].next_response: duration 'soon' is not like '30s', '5m', '1h30m', '2d' or '1w'"),
        (("policies", 2, "id"), "red",
         "sla.policies[2].id: policy id 'red' is also policies[0]; policy ids must be unique"),
        (("policies", 1, "calendar"), "Always",
         "sla.policies[1].calendar: String should match pattern '^[a-z][a-z0-9_]{0,47}$'"),
        (("policies", 1, "colour"), "amber", "sla.policies[1].colour: Extra inputs are not permitted"),
        (("warn_at",), 0, "sla.warn_at: warn_at 0 must be between 0 and 1 (the fraction of a target used)"),
        (("warn_at",), 1, "sla.warn_at: warn_at 1 must be between 0 and 1 (the fraction of a target used)"),
        (("warn_at",), 1.5, "sla.warn_at: warn_at 1.5 must be between 0 and 1 (the fraction of a target used)"),
        (("escalation", 1, "after"), "0m",
         "sla.escalation[1].after: 0s is not later than the level before it (0s); list levels in order of `after`"),
        (("escalation", 2, "after"), "10m",
         "sla.escalation[2].after: 10m is not later than the level before it (15m); list levels in order of `after`"),
        (("escalation", 0, "after"), "-1m", "sla.escalation[0].after: duration '-1m' is negative"),
        (("escalation", 0, "notify"), ["Team Lead"],
         "sla.escalation[0].notify[0]: 'Team Lead' is neither assignee, team_lead, on_call nor an alert target id"),
        (("escalation", 0, "notify"), [],
         "sla.escalation[0].notify: List should have at least 1 item after validation, not 0"),
        (("policies",), [], "sla.policies: List should have at least 1 item after validation, not 0"),
    ],
)
def test_errors_name_the_field(path, value, expected):
    spec = default()
    node: Any = spec
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert problems(spec) == [expected]


def test_a_policy_without_any_target_is_refused():
    spec = default()
    del spec["policies"][1]["first_response"]
    assert problems(spec) == [
        "sla.policies[1]: policy 'yellow' sets no target; give first_response, next_response or resolution"
    ]


def test_every_ordering_and_id_problem_is_reported_at_once():
    spec = default()
    spec["policies"][1]["id"] = "red"
    spec["escalation"][2]["after"] = "5m"
    assert problems(spec) == [
        "sla.policies[1].id: policy id 'red' is also policies[0]; policy ids must be unique",
        "sla.escalation[2].after: 5m is not later than the level before it (15m); list levels in order of `after`",
    ]


def test_references_for_cross_checks():
    spec = default()
    spec["policies"][1]["when"] = {"flag": "yellow", "any": [{"category": "fraud"}, {"category": "it_issue"}]}
    spec["escalation"][2]["notify"] = ["on_call", "crisis_email"]
    spec["escalation"][1]["notify"] = ["team_lead", "ops_hook", "crisis_email"]
    sla = SlaSpec.model_validate(spec)
    assert sla.referenced_calendars() == {"always": "sla.policies[0].calendar",
                                          "support_hours": "sla.policies[2].calendar"}
    assert sla.referenced_categories() == {"fraud": "sla.policies[1].when", "it_issue": "sla.policies[1].when"}
    assert sla.referenced_targets() == {"ops_hook": "sla.escalation[1].notify[1]",
                                        "crisis_email": "sla.escalation[1].notify[2]"}


def test_policies_describe_their_targets():
    sla = SlaSpec.model_validate(DEFAULT_SLA)
    assert sla.policies[0].describe() == "first response 5m, next response 15m, resolution 8h on always"
    assert sla.policies[2].describe() == "first response 1h on support_hours"


@settings(max_examples=200, deadline=None)
@given(amounts=st.lists(st.integers(1, 10_000), min_size=1, max_size=3),
       unit=st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]))
def test_targets_are_stored_in_seconds(amounts, unit):
    letter, size = unit
    spec = default()
    for metric, amount in zip(METRICS, amounts, strict=False):
        spec["policies"][2][metric] = f"{amount}{letter}"
    matched = policies(spec).match({})
    assert list(matched.targets().values()) == [float(amount * size) for amount in amounts]
