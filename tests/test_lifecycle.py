"""The issue lifecycle's pure core: the `issues:` section, its time goals, stage gates and text templates."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from firebreak.calendars import BusinessCalendar, CalendarSpec
from firebreak.core.errors import InvalidInput
from firebreak.lifecycle import (
    DRAFT_KINDS,
    PLACEHOLDERS,
    STAKEHOLDER_ROLES,
    GateState,
    IssuesSpec,
    StageSpec,
    TimeGoal,
    can_move,
    check_exit,
    move_refusal,
    next_stage,
    placeholders,
    plan_move,
    render,
)

DEFAULT_FRAGMENT = Path(__file__).resolve().parents[1] / "src/firebreak/playbook/defaults/default.yaml"
LONDON = ZoneInfo("Europe/London")
SUPPORT_HOURS = BusinessCalendar.from_spec(CalendarSpec.model_validate({
    "id": "support_hours",
    "timezone": "Europe/London",
    "hours": {**{day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")}, "sat": ["10:00-16:00"]},
    "holidays": {"country": "GB", "subdivision": "ENG"},
}))
ALWAYS = BusinessCalendar.always()
LAWS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def default_section() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_FRAGMENT.read_text())["issues"]


DEFAULT = IssuesSpec.model_validate(default_section())


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)  # type: ignore[misc]


def minimal(**changes: Any) -> dict[str, Any]:
    """Return a two-stage section with `changes` merged into its top level."""
    section: dict[str, Any] = {
        "stages": [
            {"id": "work", "label": "Work", "goal": "2h"},
            {"id": "aftermath", "label": "Aftermath"},
        ],
    }
    section.update(changes)
    return section


def with_stage(index: int, **changes: Any) -> dict[str, Any]:
    section = minimal()
    section["stages"][index].update(changes)
    return section


def problems(section: dict[str, Any]) -> list[tuple[str, str]]:
    """Return each validation problem as (dotted location, message)."""
    with pytest.raises(ValidationError) as caught:
        IssuesSpec.model_validate(section)
    return [(".".join(map(str, error["loc"])), error["msg"]) for error in caught.value.errors()]


def refused(section: dict[str, Any], location: str, *words: str) -> None:
    found = problems(section)
    matching = [message for where, message in found if where == location]
    assert matching, f"no problem at {location}; got {found}"
    for word in words:
        assert any(word in message for message in matching), f"{word!r} not in {matching}"


# The shipped default ---------------------------------------------------------------------------


def test_the_default_runs_the_six_stages_of_the_method_in_order():
    assert DEFAULT.stage_ids == ("acknowledgement", "discovery", "internal_discussion", "content_approval",
                                 "publishing", "aftermath")
    assert DEFAULT.first_stage.id == "acknowledgement"
    assert DEFAULT.last_stage.id == "aftermath"


def test_the_default_goals_match_the_method():
    goals = {stage.id: stage.goal.describe() if stage.goal else None for stage in DEFAULT.stages}
    assert goals == {
        "acknowledgement": "2h",
        "discovery": "2 business days",
        "internal_discussion": "2 business days",
        "content_approval": "3 business days",
        "publishing": "2h",
        "aftermath": None,
    }
    assert DEFAULT.stage("acknowledgement").calendar == "always"
    assert DEFAULT.stage("discovery").calendar == "support_hours"
    assert DEFAULT.legal_review.goal == TimeGoal(seconds=7200)
    assert DEFAULT.publish_throttle == 30.0


def test_the_default_gates():
    assert DEFAULT.stage("acknowledgement").exit.published
    assert DEFAULT.stage("discovery").exit.decision
    assert DEFAULT.stage("content_approval").exit.approved == ("response",)
    assert DEFAULT.stage("publishing").exit.published
    assert DEFAULT.last_stage.exit.empty
    assert not DEFAULT.last_stage.required_titles()


def test_the_default_checklists_cover_the_method():
    titles = {stage.id: " | ".join(task.title for task in stage.tasks) for stage in DEFAULT.stages}
    assert "not an admission" in titles["acknowledgement"]
    assert "one-off or systemic" in titles["discovery"]
    assert "root cause" in titles["internal_discussion"]
    assert "what affected customers need" in titles["internal_discussion"]
    assert "stakeholders" in titles["internal_discussion"]
    for needed in ("FAQs", "talking points for sales, marketing, communications and customer service",
                   "Confirm support readiness with the customer support organisation"):
        assert needed in titles["content_approval"]
    for needed in ("Follow up", "update their threads", "executive summary", "lessons learned"):
        assert needed in titles["aftermath"]
    owners = {task.owner for stage in DEFAULT.stages for task in stage.tasks}
    assert owners <= set(STAKEHOLDER_ROLES)
    assert {"communications", "product", "support", "legal"} <= owners


def test_the_default_holding_statements_and_templates():
    assert [(s.id, s.kind) for s in DEFAULT.holding_statements] == [
        ("aware", "acknowledgement"), ("investigating", "confirmation"), ("fixed", "response")]
    aware = DEFAULT.holding_statement("aware")
    text = render(aware.text, {"product": "Acme Pay", "problem": "unable to check out", "next_update": "14:00"})
    assert text == ("We know some Acme Pay customers are unable to check out. We're looking into it now and "
                    "will post an update here by 14:00.")
    assert render(DEFAULT.reply_template, {"title": "Checkout errors", "link": "https://acme.test/n/1"}) == (
        "We've posted an update on Checkout errors: https://acme.test/n/1")
    assert placeholders(DEFAULT.follow_up_template) == {"handle", "title", "link"}


def test_the_default_names_its_calendars_for_the_cross_check():
    assert DEFAULT.referenced_calendars() == {
        "always": "issues.stages[0].calendar",
        "support_hours": "issues.stages[1].calendar",
    }


def test_a_default_stage_deadline_on_support_hours():
    # Entering discovery on Friday 15:00: Saturday is open (10-16) and counts, Sunday is closed.
    discovery = DEFAULT.stage("discovery")
    entered = london(2026, 6, 5, 15)
    assert discovery.due_at(SUPPORT_HOURS, entered) == london(2026, 6, 8, 15)
    assert discovery.warn_at(SUPPORT_HOURS, entered) == london(2026, 6, 6, 15)
    gather = discovery.tasks[0]
    assert gather.due_at(SUPPORT_HOURS, entered) == london(2026, 6, 5, 19)


def test_a_two_hour_goal_on_the_24x7_calendar():
    acknowledgement = DEFAULT.stage("acknowledgement")
    entered = datetime(2026, 6, 6, 23, 30, tzinfo=UTC)
    assert acknowledgement.due_at(ALWAYS, entered) == entered + timedelta(hours=2)
    assert acknowledgement.warn_at(ALWAYS, entered) == entered + timedelta(hours=1)


def test_the_last_stage_has_no_deadline():
    assert DEFAULT.last_stage.due_at(ALWAYS, london(2026, 6, 5)) is None
    assert DEFAULT.last_stage.warn_at(ALWAYS, london(2026, 6, 5)) is None
    assert DEFAULT.stage("internal_discussion").tasks[1].due_at(ALWAYS, london(2026, 6, 5)) is None


def test_the_section_is_frozen():
    with pytest.raises(ValidationError):
        DEFAULT.stages[0].id = "other"  # type: ignore[misc]


def test_unknown_stage_and_holding_statement_ids_are_invalid_input():
    with pytest.raises(InvalidInput, match="unknown stage 'triage'; stages are acknowledgement, discovery"):
        DEFAULT.stage("triage")
    with pytest.raises(InvalidInput, match="unknown holding statement 'sorry'; known: aware, investigating, fixed"):
        DEFAULT.holding_statement("sorry")


def test_defaults_of_the_optional_fields():
    spec = IssuesSpec.model_validate(minimal())
    assert spec.legal_review.goal.describe() == "2h"
    assert spec.legal_review.calendar == "always"
    assert spec.holding_statements == ()
    assert "{link}" in spec.reply_template
    assert spec.publish_throttle == 30.0
    task = StageSpec.model_validate({"id": "s", "label": "S", "goal": "1h", "tasks": [{"title": "Do it"}]}).tasks[0]
    assert (task.required, task.owner, task.due) == (False, "owner", None)


# Time goals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "goal", "words"), [
    ("90m", TimeGoal(seconds=5400), "1h 30m"),
    ("2h", TimeGoal(seconds=7200), "2h"),
    ("1h30m", TimeGoal(seconds=5400), "1h 30m"),
    ("1bd", TimeGoal(business_days=1), "1 business day"),
    ("2bd", TimeGoal(business_days=2), "2 business days"),
    (" 30BD ", TimeGoal(business_days=30), "30 business days"),
])
def test_goals_are_durations_or_business_days(text: str, goal: TimeGoal, words: str):
    assert TimeGoal.parse(text) == goal
    assert goal.describe() == words
    assert TimeGoal.parse(str(goal)) == goal


@pytest.mark.parametrize(("text", "message"), [
    ("0bd", "whole number from 1bd to 30bd"),
    ("31bd", "whole number from 1bd to 30bd"),
    ("1.5bd", "whole number from 1bd to 30bd"),
    ("-1bd", "whole number from 1bd to 30bd"),
    ("1bd4h", "write business days alone"),
    ("bd", "write business days alone"),
    ("0m", "must be longer than zero"),
    ("-5m", "is negative"),
    ("5", "is not like"),
    (5, "needs a unit"),
    ("soon", "is not like"),
])
def test_bad_goals_are_refused(text: Any, message: str):
    with pytest.raises(ValueError, match=message):
        TimeGoal.parse(text)


def test_a_goal_is_one_unit_or_the_other():
    with pytest.raises(ValueError, match="either business seconds or business days"):
        TimeGoal(seconds=60, business_days=1)
    with pytest.raises(ValueError, match="either business seconds or business days"):
        TimeGoal()
    with pytest.raises(ValueError, match="different units"):
        TimeGoal(seconds=60).shorter_than(TimeGoal(business_days=1))


goals = st.one_of(
    st.integers(1, 30).map(lambda days: TimeGoal(business_days=days)),
    st.integers(60, 30 * 86400).map(lambda seconds: TimeGoal(seconds=float(seconds))),
)
starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@LAWS
@given(goals, starts)
def test_the_default_warning_comes_when_three_quarters_of_the_goal_is_used(goal: TimeGoal, start: datetime):
    stage = StageSpec(id="s", label="S", goal=goal, calendar="support_hours")
    due = stage.due_at(SUPPORT_HOURS, start)
    warn = stage.warn_at(SUPPORT_HOURS, start)
    assert due is not None and warn is not None
    assert start <= warn <= due
    used = SUPPORT_HOURS.between(start, warn)
    assert used == pytest.approx(0.75 * SUPPORT_HOURS.between(start, due), abs=1e-6)


@LAWS
@given(goals, goals, starts)
def test_a_longer_goal_never_falls_due_sooner(a: TimeGoal, b: TimeGoal, start: datetime):
    if a.same_unit(b) and a.shorter_than(b):
        assert a.due(SUPPORT_HOURS, start) <= b.due(SUPPORT_HOURS, start)


def test_an_explicit_warning_is_its_own_goal():
    stage = StageSpec(id="s", label="S", goal="2bd", warn="1bd", calendar="support_hours")  # type: ignore[arg-type]
    assert stage.warn_at(SUPPORT_HOURS, london(2026, 6, 3, 9)) == london(2026, 6, 4, 9)


# Every validation error ----------------------------------------------------------------------------


def test_the_fragment_round_trips_through_its_dump():
    assert IssuesSpec.model_validate(DEFAULT.model_dump()) == DEFAULT


def test_repeated_stage_ids():
    section = minimal()
    section["stages"].insert(1, {"id": "work", "label": "Again", "goal": "1h"})
    refused(section, "stages.1.id", "stage id 'work' is also stages[0]")


def test_at_least_two_stages():
    refused(minimal(stages=[{"id": "only", "label": "Only"}]), "stages", "at least two stages")


def test_unknown_owner_role():
    section = with_stage(0, tasks=[{"title": "Call the press", "owner": "pr"}])
    refused(section, "stages.0.tasks.0.owner", "'communications'", "'executive_sponsor'")


def test_warn_not_shorter_than_the_goal():
    refused(with_stage(0, warn="2h"), "stages.0.warn", "stage 'work': warn 2h must be shorter than the goal 2h")
    refused(with_stage(0, goal="2bd", warn="3bd"), "stages.0.warn", "warn 3 business days must be shorter")


def test_warn_in_another_unit_than_the_goal():
    refused(with_stage(0, goal="2bd", warn="4h"), "stages.0.warn", "both be business days or both durations")


def test_warn_without_a_goal():
    refused(with_stage(1, warn="1h"), "stages.1.warn", "stage 'aftermath': warn 1h needs a goal")


@pytest.mark.parametrize(("goal", "message"), [
    ("0m", "must be longer than zero"), ("-2h", "is negative"), ("0bd", "1bd to 30bd"), ("31bd", "1bd to 30bd"),
    ("2.5bd", "1bd to 30bd"), ("2", "is not like"), (2, "needs a unit"),
])
def test_bad_stage_goals(goal: Any, message: str):
    refused(with_stage(0, goal=goal), "stages.0.goal", message)


def test_bad_task_due():
    refused(with_stage(0, tasks=[{"title": "Now", "due": "0s"}]), "stages.0.tasks.0.due", "longer than zero")


def test_a_task_due_after_its_stages_goal():
    refused(with_stage(0, tasks=[{"title": "Late", "due": "3h"}]), "stages.0.tasks.0.due",
            "task 'Late' is due 3h, after the stage's goal 2h")


def test_repeated_task_titles_in_a_stage():
    refused(with_stage(0, tasks=[{"title": "Same"}, {"title": "Same"}]), "stages.0.tasks.1.title",
            "task 'Same' is also tasks[0]")


def test_every_stage_but_the_last_needs_a_goal():
    section = with_stage(0)
    del section["stages"][0]["goal"]
    refused(section, "stages.0.goal", "stage 'work' needs a goal")


def test_the_last_stage_has_no_goal():
    refused(with_stage(1, goal="1bd"), "stages.1.goal", "'aftermath' is the last stage", "no goal")


def test_the_last_stage_has_no_required_tasks():
    section = with_stage(1, tasks=[{"title": "Follow up"}, {"title": "Summary", "required": True}])
    refused(section, "stages.1.tasks.1.required", "its tasks cannot be required (task 'Summary')")


def test_the_last_stage_has_no_exit_gate():
    refused(with_stage(1, exit={"published": True}), "stages.1.exit", "it has no exit gate")


def test_unknown_and_repeated_draft_kinds_in_a_gate():
    refused(with_stage(0, exit={"approved": ["press_release"]}), "stages.0.exit.approved.0", "'talking_points'")
    refused(with_stage(0, exit={"approved": ["response", "response"]}), "stages.0.exit",
            "approved lists response more than once")


def test_bad_stage_ids_and_unknown_keys():
    refused(with_stage(0, id="Work"), "stages.0.id", "pattern")
    refused(with_stage(0, deadline="2h"), "stages.0.deadline", "Extra inputs")
    refused(minimal(stage_order=[]), "stage_order", "Extra inputs")
    refused(with_stage(0, label=""), "stages.0.label", "at least 1 character")


@pytest.mark.parametrize("field", ["reply_template", "follow_up_template"])
def test_unknown_placeholders_in_templates_are_named(field: str):
    refused(minimal(**{field: "See {link} about {ticket} and {Title}"}), field,
            "unknown placeholder {Title}, {ticket}", "known: {brand}")


def test_unknown_placeholders_in_holding_statements_are_named():
    statement = {"id": "aware", "label": "Aware", "kind": "acknowledgement", "text": "We know about {outage}."}
    refused(minimal(holding_statements=[statement]), "holding_statements.0.text", "unknown placeholder {outage}")


def test_escaped_braces_are_not_placeholders():
    spec = IssuesSpec.model_validate(minimal(reply_template="{{not a placeholder}} {{ticket}} {link}"))
    assert placeholders(spec.reply_template) == {"link"}


def test_the_reply_needs_the_link():
    refused(minimal(reply_template="We've posted an update on {title}."), "reply_template", "must contain {link}")


def test_holding_statements():
    statement = {"id": "aware", "label": "Aware", "kind": "acknowledgement", "text": "We know."}
    refused(minimal(holding_statements=[statement, {**statement, "label": "Again"}]), "holding_statements.1.id",
            "holding statement id 'aware' is also holding_statements[0]")
    refused(minimal(holding_statements=[{**statement, "kind": "tweet"}]), "holding_statements.0.kind", "'faq'")
    refused(minimal(holding_statements=[{**statement, "text": ""}]), "holding_statements.0.text", "at least 1")


def test_legal_review():
    refused(minimal(legal_review={"goal": "0h"}), "legal_review.goal", "longer than zero")
    refused(minimal(legal_review={"calendar": "always"}), "legal_review.goal", "Field required")
    refused(minimal(legal_review={"goal": "2h", "warn": "3h"}), "legal_review",
            "legal_review: warn 3h must be shorter than the goal 2h")
    spec = IssuesSpec.model_validate(minimal(legal_review={"goal": "4h", "calendar": "legal_hours"}))
    assert spec.referenced_calendars()["legal_hours"] == "issues.legal_review.calendar"


@pytest.mark.parametrize(("throttle", "message"), [("0s", "longer than zero"), ("-1s", "negative"), (30, "unit")])
def test_publish_throttle(throttle: Any, message: str):
    refused(minimal(publish_throttle=throttle), "publish_throttle", message)


def test_problems_in_one_section_are_reported_together():
    section = copy.deepcopy(default_section())
    section["stages"][2]["id"] = "discovery"
    section["stages"][5]["goal"] = "10bd"
    section["stages"][4]["goal"] = section["stages"][4]["warn"] = None
    locations = {where for where, _ in problems(section)}
    assert locations == {"stages.2.id", "stages.5.goal", "stages.4.goal"}


def test_the_vocabularies_match_the_issue_tables():
    assert STAKEHOLDER_ROLES == ("owner", "communications", "legal", "product", "support", "executive_sponsor")
    assert DRAFT_KINDS == ("acknowledgement", "confirmation", "response", "faq", "talking_points")
    assert {"product", "problem", "next_update", "title", "link", "handle", "issue", "brand"} == PLACEHOLDERS


# Gates and moves ------------------------------------------------------------------------------------


def test_nothing_blocks_a_stage_whose_gate_is_met():
    assert check_exit(DEFAULT.stage("internal_discussion"), GateState()) == []
    assert check_exit(DEFAULT.stage("discovery"), GateState(decision_recorded=True)) == []


def test_open_required_tasks_block():
    stage = DEFAULT.stage("internal_discussion")
    assert check_exit(stage, GateState(open_required_tasks=("Root cause",))) == [
        "1 required task is open: Root cause"]
    assert check_exit(stage, GateState(open_required_tasks=("Root cause", "Stakeholders"))) == [
        "2 required tasks are open: Root cause; Stakeholders"]


def test_each_exit_condition_blocks_with_a_plain_sentence():
    assert check_exit(DEFAULT.stage("discovery"), GateState()) == [
        "record the one-off / systemic decision and its reason"]
    assert check_exit(DEFAULT.stage("content_approval"), GateState(approved_kinds=frozenset({"faq"}))) == [
        "the response needs an approved version"]
    assert check_exit(DEFAULT.stage("publishing"), GateState()) == [
        "publish the approved text: nothing has been published in this stage yet"]


def test_all_blockers_are_listed_in_order():
    stage = StageSpec.model_validate({"id": "s", "label": "S", "goal": "1h", "exit": {
        "decision": True, "approved": ["faq", "talking_points", "confirmation"], "published": True}})
    state = GateState(open_required_tasks=("A",), approved_kinds=frozenset({"talking_points"}))
    assert check_exit(stage, state) == [
        "1 required task is open: A",
        "record the one-off / systemic decision and its reason",
        "the FAQs need an approved version",
        "the confirmation post needs an approved version",
        "publish the approved text: nothing has been published in this stage yet",
    ]


def test_next_stage():
    assert next_stage(DEFAULT, "acknowledgement") == "discovery"
    assert next_stage(DEFAULT, "publishing") == "aftermath"
    assert next_stage(DEFAULT, "aftermath") is None
    with pytest.raises(InvalidInput, match="unknown stage 'nowhere'"):
        next_stage(DEFAULT, "nowhere")


def test_forward_one_stage_at_a_time_or_back_to_any_earlier_stage():
    assert can_move(DEFAULT, "acknowledgement", "discovery")
    assert can_move(DEFAULT, "publishing", "aftermath")
    assert can_move(DEFAULT, "publishing", "discovery")
    assert can_move(DEFAULT, "aftermath", "acknowledgement")
    assert not can_move(DEFAULT, "acknowledgement", "internal_discussion")
    assert not can_move(DEFAULT, "discovery", "discovery")
    assert move_refusal(DEFAULT, "discovery", "publishing") == (
        "an issue moves forward one stage at a time: from discovery the next stage is internal_discussion, "
        "not publishing")
    assert move_refusal(DEFAULT, "discovery", "discovery") == "the issue is already in discovery"
    with pytest.raises(InvalidInput, match="unknown stage 'closed'"):
        can_move(DEFAULT, "aftermath", "closed")


def test_a_met_gate_moves_forward_without_a_reason():
    move = plan_move(DEFAULT, "discovery", "internal_discussion", GateState(decision_recorded=True))
    assert (move.direction, move.blockers, move.overridden, move.override_reason) == ("forward", (), False, None)


def test_a_blocked_gate_needs_an_override_reason():
    for reason in (None, "", "   "):
        with pytest.raises(InvalidInput, match="discovery cannot be left yet: record the one-off") as caught:
            plan_move(DEFAULT, "discovery", "internal_discussion", GateState(), override_reason=reason)
        assert caught.value.field == "override_reason"
    move = plan_move(DEFAULT, "discovery", "internal_discussion", GateState(),
                     override_reason="  Legal asked us to hold the decision until Monday  ")
    assert move.overridden
    assert move.blockers == ("record the one-off / systemic decision and its reason",)
    assert move.override_reason == "Legal asked us to hold the decision until Monday"


def test_going_back_is_never_gated():
    move = plan_move(DEFAULT, "publishing", "content_approval", GateState(open_required_tasks=("X",)))
    assert (move.direction, move.blockers, move.overridden) == ("back", (), False)


def test_an_illegal_move_is_refused_whatever_the_reason():
    with pytest.raises(InvalidInput, match="one stage at a time") as caught:
        plan_move(DEFAULT, "acknowledgement", "aftermath", GateState(), override_reason="skip it")
    assert caught.value.field == "stage"


# Templates --------------------------------------------------------------------------------------------


def test_render_fills_known_values_and_ignores_extra_ones():
    assert render("Hi @{handle}: {link}", {"handle": "ana", "link": "https://x.test", "unused": "!"}) == (
        "Hi @ana: https://x.test")


def test_missing_values_stay_visible():
    assert render("Update by {next_update} on {title}", {"title": "Outage"}) == "Update by {next_update} on Outage"


def test_double_braces_escape():
    assert render("{{title}} is {title}; a }} and a {{", {"title": "T"}) == "{title} is T; a } and a {"
    assert render("{{{title}}}", {"title": "T"}) == "{T}"
    assert placeholders("{{title}} {{{link}}}") == {"link"}


def test_values_are_not_expanded_again():
    assert render("{title}", {"title": "{link}", "link": "no"}) == "{link}"


def test_braces_that_are_not_placeholders_stay_as_written():
    assert render("{ title } {9lives} {} {", {"title": "T"}) == "{ title } {9lives} {} {"
    assert placeholders("{ title } {9lives} {} {") == set()


plain_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)


@LAWS
@given(plain_text, st.dictionaries(st.sampled_from(sorted(PLACEHOLDERS)), plain_text))
def test_escaped_text_renders_back_to_itself(text: str, values: dict[str, str]):
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert placeholders(escaped) == set()
    assert render(escaped, values) == text


pieces = st.one_of(plain_text.map(lambda text: ("text", text)), st.sampled_from(sorted(PLACEHOLDERS)).map(
    lambda name: ("placeholder", name)))


@LAWS
@given(st.lists(pieces), st.dictionaries(st.sampled_from(sorted(PLACEHOLDERS)), plain_text))
def test_render_replaces_exactly_the_given_placeholders(parts: list[tuple[str, str]], values: dict[str, str]):
    template = "".join(value.replace("{", "{{").replace("}", "}}") if kind == "text" else "{" + value + "}"
                       for kind, value in parts)
    expected = "".join(value if kind == "text" else values.get(value, "{" + value + "}") for kind, value in parts)
    assert render(template, values) == expected
    assert placeholders(template) == {value for kind, value in parts if kind == "placeholder"}
