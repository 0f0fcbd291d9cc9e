"""Walk the response-assessment tree for one mention: the recommended action and the path that led there.

The spec is compiled once into a true tree: a node reached from several places is copied for each, so
every leaf knows the whole path to it and holds its finished, immutable `Assessment`. An evaluation then
only runs predicates and returns a prebuilt object; nothing is allocated per mention. The spec's
validation guarantees the walk ends and bounds the number of paths (MAX_PATHS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from firebreak.assessment.schema import AssessmentSpec
from firebreak.conditions import Facts, Predicate

OTHERWISE = "otherwise"


@dataclass(frozen=True, slots=True)
class Step:
    """One question on the path: which node asked it, the answer that held, and where it led."""

    node: str
    question: str
    answer: str
    next: str

    def as_dict(self) -> dict[str, str]:
        """Return the step as JSON-ready data."""
        return {"node": self.node, "question": self.question, "answer": self.answer, "next": self.next}


@dataclass(frozen=True, slots=True)
class Assessment:
    """The recommended response to one mention, with the path through the tree that explains it."""

    outcome: str
    label: str
    action: str
    respond: bool
    considerations: Mapping[str, str]
    next_step: str
    path: tuple[Step, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the assessment as JSON-ready data, for storing beside the mention."""
        return {
            "outcome": self.outcome,
            "label": self.label,
            "action": self.action,
            "respond": self.respond,
            "considerations": dict(self.considerations),
            "next_step": self.next_step,
            "path": [step.as_dict() for step in self.path],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assessment:
        """Rebuild a stored assessment from `as_dict` data."""
        return cls(
            outcome=data["outcome"],
            label=data["label"],
            action=data["action"],
            respond=data["respond"],
            considerations=MappingProxyType(dict(data["considerations"])),
            next_step=data["next_step"],
            path=tuple(Step(**step) for step in data["path"]),
        )

    def summary(self) -> str:
        """Return the path on one line, e.g. "red_flags: yes, red flag → escalate"."""
        return " → ".join([*(f"{step.node}: {step.answer}" for step in self.path), self.outcome])


class _Question:
    """A compiled node at one place in the tree: (predicate, what follows) pairs in order, then otherwise."""

    __slots__ = ("branches", "otherwise")

    def __init__(self, branches: tuple[tuple[Predicate, _Question | Assessment], ...],
                 otherwise: _Question | Assessment) -> None:
        self.branches = branches
        self.otherwise = otherwise


class AssessmentTree:
    """A compiled assessment tree; `evaluate` is pure and safe to share between threads."""

    __slots__ = ("spec", "_root")

    def __init__(self, spec: AssessmentSpec) -> None:
        self.spec = spec
        nodes = {node.id: node for node in spec.nodes}
        # Compile each condition once; the copies of a node share its predicates.
        predicates = {node.id: tuple(branch.when.compile() for branch in node.branches) for node in spec.nodes}
        outcomes = {outcome.id: outcome for outcome in spec.outcomes}
        # Shared by every assessment of an outcome, so read-only.
        considerations = {outcome.id: MappingProxyType(outcome.considerations.given()) for outcome in spec.outcomes}

        def unfold(target: str, path: tuple[Step, ...]) -> _Question | Assessment:
            node = nodes.get(target)
            if node is None:
                outcome = outcomes[target]
                return Assessment(outcome.id, outcome.label, outcome.action, outcome.respond,
                                  considerations[target], outcome.next_step, path)
            branches = tuple(
                (test, unfold(branch.then, (*path, Step(node.id, node.question, branch.answer_text(), branch.then))))
                for test, branch in zip(predicates[node.id], node.branches, strict=True)
            )
            return _Question(branches, unfold(node.otherwise,
                                              (*path, Step(node.id, node.question, OTHERWISE, node.otherwise))))

        self._root = unfold(spec.start, ())

    @classmethod
    def from_spec(cls, spec: AssessmentSpec) -> AssessmentTree:
        """Compile a validated spec once, for many evaluations."""
        return cls(spec)

    def evaluate(self, facts: Facts) -> Assessment:
        """Walk the tree with one mention's facts and return the outcome and the path taken."""
        node = self._root
        while isinstance(node, _Question):
            for test, then in node.branches:
                if test(facts):
                    node = then
                    break
            else:
                node = node.otherwise
        return node
