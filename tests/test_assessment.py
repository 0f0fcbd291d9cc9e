"""The response-assessment tree: the shipped default decides as the method says, bad trees are refused
with messages that name the node, branch or id, and the compiled tree walks exactly as the spec reads."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import firebreak.assessment
from firebreak.assessment import Assessment, AssessmentSpec, AssessmentTree
from firebreak.assessment.schema import MAX_PATHS
from firebreak.conditions import Facts
from firebreak.playbook.loader import load_playbook

DEFAULT_TREE = Path(firebreak.assessment.__file__).parents[1] / "playbook/defaults/default.yaml"
SPEC = AssessmentSpec.model_validate(yaml.safe_load(DEFAULT_TREE.read_text("utf-8"))["assessment"])
TREE = AssessmentTree.from_spec(SPEC)


def facts(**given: Any) -> dict[str, Any]:
    """An ordinary inbound post on X by an unremarkable customer, changed by `given`."""
    base: dict[str, Any] = {
        "flag": "green", "category": "general", "category_group": "general", "sentiment": "neutral",
        "intent": None, "channel": "x-main", "channel_kind": "x", "language": "en", "direction": "inbound",
        "author_tags": [], "offensive": False, "author_verified": False, "is_reply": False,
        "author_followers": 240, "confidence": 0.9, "unanswered_replies": 0, "author_recent_posts": 1,
        "author_recent_negative": 0, "thread_length": 1,
    }
    return base | given


NEGATIVE = {"sentiment": "negative", "intent": "complaint"}
START = "red_flags: otherwise → our_voice: otherwise → troll_or_rager: otherwise → "
TO_CUSTOMER = START + "polarity: negative → negative_author: otherwise → misguided: otherwise → "

CASES = [
    ("legal threat", facts(flag="red", category="legal_threat", category_group="potential_crisis", **NEGATIVE),
     "red_flags: yes, red flag → escalate"),
    ("red beats the troll tag", facts(flag="red", category="security", author_tags=["troll"], **NEGATIVE),
     "red_flags: yes, red flag → escalate"),
    ("brand's own post", facts(direction="outbound", sentiment="negative"),
     "red_flags: otherwise → our_voice: yes, posted from a brand account → own_post"),
    ("author tagged brand", facts(author_tags=["brand"]),
     "red_flags: otherwise → our_voice: yes, the author is tagged brand → own_post"),
    ("troll", facts(flag="yellow", category="product_criticism", author_tags=["troll"], **NEGATIVE),
     "red_flags: otherwise → our_voice: otherwise → troll_or_rager: a troll, the author is tagged troll → monitor"),
    ("rager", facts(flag="yellow", category="product_criticism", category_group="potential_crisis", offensive=True,
                    **NEGATIVE),
     "red_flags: otherwise → our_voice: otherwise → troll_or_rager: maybe a rager, the post is offensive → "
     "anything_to_fix: otherwise → monitor"),
    ("crude but a real order problem", facts(flag="yellow", category="order_dispute", category_group="customer_support",
                                             offensive=True, **NEGATIVE),
     "red_flags: otherwise → our_voice: otherwise → troll_or_rager: maybe a rager, the post is offensive → "
     "anything_to_fix: yes, a customer support matter → polarity: negative → negative_author: otherwise → "
     "misguided: otherwise → unhappy_customer: private, it needs account or order details → take_private"),
    ("crude praise", facts(category="praise", sentiment="positive", intent="praise", offensive=True),
     "red_flags: otherwise → our_voice: otherwise → troll_or_rager: maybe a rager, the post is offensive → "
     "anything_to_fix: yes, it is positive, just crude → polarity: positive → positive: otherwise → thank"),
    ("employee critic", facts(flag="yellow", category="employee_negative", author_tags=["employee"], **NEGATIVE),
     START + "polarity: negative → negative_author: yes, triage found an employee's criticism → employee_to_hr"),
    ("negative blog review", facts(flag="yellow", category="negative_media", channel_kind="blog", **NEGATIVE),
     START + "polarity: negative → negative_author: otherwise → misguided: yes, media or campaign criticism → "
     "fix_facts"),
    ("critical article on a news site", facts(flag="yellow", category="product_criticism", channel_kind="news",
                                              sentiment="negative"),
     START + "polarity: negative → negative_author: otherwise → misguided: yes, published on a news site or blog → "
     "fix_facts"),
    ("refund demand", facts(flag="yellow", category="order_dispute", category_group="customer_support", **NEGATIVE),
     TO_CUSTOMER + "unhappy_customer: private, it needs account or order details → take_private"),
    ("ignored three times", facts(flag="yellow", category="product_criticism", unanswered_replies=3, **NEGATIVE),
     TO_CUSTOMER + "unhappy_customer: private, the author already has 3 or more unanswered replies here → "
     "catch_up_private"),
    ("ignored twice", facts(flag="yellow", category="product_criticism", unanswered_replies=2, **NEGATIVE),
     TO_CUSTOMER + "unhappy_customer: otherwise → rectify"),
    ("complaint in neutral words", facts(flag="yellow", category="it_issue", category_group="customer_support",
                                         intent="complaint"),
     START + "polarity: negative, a complaint → negative_author: otherwise → misguided: otherwise → "
     "unhappy_customer: otherwise → rectify"),
    ("praise", facts(category="praise", sentiment="positive", intent="praise"),
     START + "polarity: positive → positive: otherwise → thank"),
    ("praise from a big account", facts(category="praise", sentiment="positive", author_followers=180_000),
     START + "polarity: positive → positive: an author with 50,000 followers or more → amplify"),
    ("praise from a journalist", facts(category="praise", intent="praise", author_tags=["journalist"]),
     START + "polarity: positive, praise → positive: an influencer, journalist or partner → amplify"),
    ("praise from an employee", facts(category="praise", sentiment="positive", author_tags=["employee"]),
     START + "polarity: positive → positive: one of our employees → let_stand"),
    ("praise with a question", facts(category="praise", sentiment="positive", intent="question"),
     START + "polarity: neutral, a question → neutral: yes, a question or request → answer"),
    ("booking change", facts(flag="yellow", category="transaction_request", category_group="customer_support"),
     START + "polarity: otherwise → neutral: yes, a request that needs account or order details → take_private"),
    ("how to set up an account", facts(category="account_setup", category_group="customer_support"),
     START + "polarity: otherwise → neutral: yes, a customer support matter → answer"),
    ("are you hiring", facts(category="careers"),
     START + "polarity: otherwise → neutral: yes, an idea or a question about the company → answer"),
    ("waiting in a neutral thread", facts(unanswered_replies=4),
     START + "polarity: otherwise → neutral: yes, the author already has 3 or more unanswered replies here → "
     "catch_up_private"),
    ("passing mention", facts(), START + "polarity: otherwise → neutral: otherwise → let_stand"),
    ("no facts at all", {}, START + "polarity: otherwise → neutral: otherwise → let_stand"),
]


def test_default_tree_uses_only_categories_of_the_default_playbook():
    known = {category.id for category in load_playbook().playbook.risk.categories}
    assert set(SPEC.referenced_categories()) <= known
    assert "order_dispute" in SPEC.referenced_categories()


@pytest.mark.parametrize(("mention", "given", "expected"), CASES, ids=[case[0] for case in CASES])
def test_default_tree_decides_as_the_method_says(mention: str, given: Facts, expected: str):
    assessment = TREE.evaluate(given)
    assert assessment.summary() == expected
    assert assessment.outcome == expected.rsplit(" → ", 1)[1]


def test_every_outcome_of_the_default_tree_is_exercised():
    assert {TREE.evaluate(given).outcome for _, given, _ in CASES} == {outcome.id for outcome in SPEC.outcomes}


def test_default_outcomes_carry_what_agents_need():
    for outcome in SPEC.outcomes:
        assert outcome.next_step.endswith("."), outcome.id
        assert outcome.considerations.given(), outcome.id
    silent = {outcome.id for outcome in SPEC.outcomes if not outcome.respond}
    assert silent == {"own_post", "monitor", "employee_to_hr", "let_stand"}


def test_assessment_carries_action_considerations_next_step_and_path():
    assessment = TREE.evaluate(facts(flag="red", category="legal_threat"))
    assert (assessment.outcome, assessment.label, assessment.action, assessment.respond) == (
        "escalate", "Escalate to the owning team", "escalate", True)
    assert list(assessment.considerations) == ["transparency", "sourcing", "timeliness", "tone", "influence"]
    assert assessment.next_step.startswith("Alert the owning team")
    [step] = assessment.path
    assert (step.node, step.question, step.answer, step.next) == (
        "red_flags", "Is this a red flag?", "yes, red flag", "escalate")
    with pytest.raises(TypeError):
        assessment.considerations["tone"] = "cheeky"  # type: ignore[index]


def test_assessment_round_trips_through_json():
    assessment = TREE.evaluate(facts(flag="yellow", category="order_dispute", **NEGATIVE))
    stored = json.loads(json.dumps(assessment.as_dict()))
    assert stored["action"] == "take_private" and stored["respond"] is True
    assert stored["path"][-1] == {"node": "unhappy_customer",
                                  "question": "Can we fix it in public, or does it need a private channel?",
                                  "answer": "private, it needs account or order details", "next": "take_private"}
    assert Assessment.from_dict(stored) == assessment
    assert Assessment.from_dict(stored).summary() == assessment.summary()


# ---------------------------------------------------------------- a small tree to break in every way


def small_tree() -> dict[str, Any]:
    return {
        "start": "red_flags",
        "nodes": [
            {"id": "red_flags", "question": "Is this a red flag?",
             "branches": [{"when": {"flag": "red"}, "then": "escalate"}], "otherwise": "polarity"},
            {"id": "polarity", "question": "Is it negative?",
             "branches": [{"when": {"sentiment": "negative"}, "answer": "negative", "then": "troll_check"}],
             "otherwise": "thank"},
            {"id": "troll_check", "question": "A troll?",
             "branches": [{"when": {"author_tags": "troll"}, "answer": "yes", "then": "monitor"}],
             "otherwise": "rectify"},
        ],
        "outcomes": [
            {"id": "escalate", "label": "Escalate", "action": "escalate", "respond": True,
             "considerations": {"timeliness": "Now."}, "next_step": "Alert the team."},
            {"id": "monitor", "label": "Monitor", "action": "monitor", "respond": False, "next_step": "Watch."},
            {"id": "rectify", "label": "Rectify", "action": "rectify", "respond": True, "next_step": "Fix it."},
            {"id": "thank", "label": "Thank", "action": "thank", "respond": True, "next_step": "Say thanks."},
        ],
    }


def test_small_tree_is_valid_and_describes_branches_without_answers():
    tree = AssessmentTree.from_spec(AssessmentSpec.model_validate(small_tree()))
    assert tree.evaluate({"flag": "red"}).summary() == "red_flags: flag is red → escalate"
    assert tree.evaluate({"sentiment": "negative", "author_tags": ["troll"]}).summary() == (
        "red_flags: otherwise → polarity: negative → troll_check: yes → monitor")
    assert tree.evaluate({"sentiment": "negative"}).considerations == {}


def broken(change: Any) -> dict[str, Any]:
    tree = small_tree()
    change(tree)
    return tree


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(tree: dict[str, Any]) -> None:
        target = tree
        for part in path[:-1]:
            target = target[part]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = copy.deepcopy(value)

    return change


_DELETE = object()


def _add_node(node: dict[str, Any], *, then_from: tuple[int, int] | None = None) -> Any:
    def change(tree: dict[str, Any]) -> None:
        tree["nodes"].append(node)
        if then_from is not None:
            tree["nodes"][then_from[0]]["branches"][then_from[1]]["then"] = node["id"]

    return change


REFUSED = [
    ("duplicate node id", _set(("nodes", 2, "id"), "polarity"),
     "id 'polarity' is used by nodes[1] and nodes[2]; ids must be unique across nodes and outcomes"),
    ("node and outcome share an id", _set(("outcomes", 3, "id"), "polarity"),
     "id 'polarity' is used by nodes[1] and outcomes[3]; ids must be unique across nodes and outcomes"),
    ("unknown start", _set(("start",), "red_flag"), "start names unknown node 'red_flag'; did you mean 'red_flags'?"),
    ("start at an outcome", _set(("start",), "thank"),
     "start 'thank' is an outcome; start must name a node (a question)"),
    ("unknown then", _set(("nodes", 1, "branches", 0, "then"), "troll_chek"),
     "nodes[1] (polarity).branches[0].then names unknown node or outcome 'troll_chek'; did you mean 'troll_check'?"),
    ("unknown otherwise", _set(("nodes", 2, "otherwise"), "nowhere"),
     "nodes[2] (troll_check).otherwise names unknown node or outcome 'nowhere'"),
    ("cycle of one", _set(("nodes", 2, "otherwise"), "troll_check"), "cycle: troll_check -> troll_check"),
    ("cycle of two", _set(("nodes", 2, "otherwise"), "polarity"), "cycle: polarity -> troll_check -> polarity"),
    ("cycle of three", _set(("nodes", 2, "otherwise"), "red_flags"),
     "cycle: red_flags -> polarity -> troll_check -> red_flags"),
    ("node without branches", _set(("nodes", 1, "branches"), []),
     "node 'polarity' has no branches; a question needs at least one (or point straight to 'thank' instead)"),
    ("node without otherwise", _set(("nodes", 1, "otherwise"), _DELETE),
     "node 'polarity' has no `otherwise`: say where to go when no branch matches (a tree has no dead ends)"),
    ("branch that always matches", _set(("nodes", 1, "branches", 0, "when"), {}),
     "node 'polarity' branches[0].when is empty, so it always matches and nothing after it is ever tested"),
    ("unreachable outcome", _set(("nodes", 2, "branches", 0, "then"), "rectify"),
     "outcomes[1] (monitor) cannot be reached from start 'red_flags'"),
    ("unreachable node", _add_node({"id": "orphan", "question": "?", "branches": [
        {"when": {"flag": "green"}, "then": "thank"}], "otherwise": "thank"}),
     "nodes[3] (orphan) cannot be reached from start 'red_flags'"),
    ("monitor that replies", _set(("outcomes", 1, "respond"), True),
     "outcome 'monitor' has action monitor, which means no reply; set respond: false"),
    ("unknown action", _set(("outcomes", 0, "action"), "panic"), "Input should be 'escalate', 'rectify'"),
    ("unknown consideration", _set(("outcomes", 0, "considerations"), {"humour": "lots"}),
     "Extra inputs are not permitted"),
    ("badly written id", _set(("nodes", 0, "id"), "Red Flags"), "String should match pattern"),
    ("unknown fact", _set(("nodes", 0, "branches", 0, "when"), {"mood": "grumpy"}), "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("problem", "change", "message"), REFUSED, ids=[case[0] for case in REFUSED])
def test_invalid_trees_are_refused_with_a_precise_message(problem: str, change: Any, message: str):
    with pytest.raises(ValidationError, match=re.escape(message)):
        AssessmentSpec.model_validate(broken(change))


def test_every_unknown_reference_is_reported_at_once():
    def two_typos(tree: dict[str, Any]) -> None:
        tree["nodes"][1]["branches"][0]["then"] = "negatve"
        tree["nodes"][2]["otherwise"] = "rectfy"

    with pytest.raises(ValidationError) as refused:
        AssessmentSpec.model_validate(broken(two_typos))
    message = str(refused.value)
    assert "nodes[1] (polarity).branches[0].then names unknown node or outcome 'negatve'" in message
    assert "nodes[2] (troll_check).otherwise names unknown node or outcome 'rectfy'; did you mean 'rectify'?" in message


def test_a_tree_with_too_many_paths_is_refused():
    # Fourteen questions in a row, each with two ways to the next: 2**14 paths.
    chain = [{"id": f"q{i}", "question": f"Question {i}?",
              "branches": [{"when": {"flag": "red"}, "then": f"q{i + 1}" if i < 13 else "thank"}],
              "otherwise": f"q{i + 1}" if i < 13 else "thank"} for i in range(14)]
    tree = {"start": "q0", "nodes": chain, "outcomes": small_tree()["outcomes"][3:]}
    with pytest.raises(ValidationError, match=f"the tree has 16,384 paths from start to an outcome, more than "
                                              f"{MAX_PATHS:,}"):
        AssessmentSpec.model_validate(tree)


def test_referenced_categories_include_nested_conditions_and_say_where():
    tree = small_tree()
    tree["nodes"][1]["branches"][0]["when"] = {
        "category": "order_dispute",
        "any": [{"category": ["fraud", "order_dispute"]}, {"all": [{"not": {"category": "praise"}}]}],
    }
    spec = AssessmentSpec.model_validate(tree)
    assert spec.referenced_categories() == {
        "order_dispute": "nodes[1] (polarity).branches[0].when",
        "fraud": "nodes[1] (polarity).branches[0].when",
        "praise": "nodes[1] (polarity).branches[0].when",
    }


# ---------------------------------------------------------------- the compiled tree walks as the spec reads


def walk_the_spec(spec: AssessmentSpec, given: Facts) -> list[tuple[str, str]]:
    """Follow the spec literally, node by node: the reference the compiled tree must agree with."""
    nodes = {node.id: node for node in spec.nodes}
    target, taken = spec.start, []
    while target in nodes:
        node = nodes[target]
        branch = next((b for b in node.branches if b.when.compile()(given)), None)
        target = branch.then if branch else node.otherwise
        taken.append((node.id, target))
    return taken


FACT_VALUES = st.fixed_dictionaries({}, optional={
    "flag": st.sampled_from(["green", "yellow", "red"]),
    "category": st.sampled_from(sorted(SPEC.referenced_categories()) + ["general", "legal_threat", "praise"]),
    "category_group": st.sampled_from(["potential_crisis", "customer_support", "general"]),
    "sentiment": st.sampled_from(["negative", "neutral", "positive"]),
    "intent": st.sampled_from(["question", "complaint", "praise", "request", "threat"]),
    "channel_kind": st.sampled_from(["x", "news", "blog", "reddit"]),
    "direction": st.sampled_from(["inbound", "outbound"]),
    "author_tags": st.lists(st.sampled_from(["troll", "employee", "influencer", "journalist", "partner", "brand",
                                             "customer"]), max_size=3),
    "offensive": st.booleans(),
    "author_followers": st.integers(0, 200_000),
    "unanswered_replies": st.integers(0, 6),
})


@settings(max_examples=300, deadline=None)
@given(FACT_VALUES)
def test_compiled_tree_agrees_with_the_spec_read_literally(given: dict[str, Any]):
    assessment = TREE.evaluate(given)
    expected = walk_the_spec(SPEC, given)
    assert [(step.node, step.next) for step in assessment.path] == expected
    assert assessment.outcome == expected[-1][1]
    assert assessment.path[0].node == SPEC.start
