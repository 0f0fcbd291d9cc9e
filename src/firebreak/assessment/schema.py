"""Pydantic models of the playbook's `assessment:` section: the response-assessment tree as data.

A tree is a set of nodes (questions) and outcomes (leaves) that share one id space. Each node tests
its branches in order with the shared `when:` language and follows the first that matches, else its
`otherwise`; each outcome says what to do. The spec refuses trees that could not always reach an
outcome: unknown ids, cycles, nodes without branches or `otherwise`, and parts that start never reaches.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from firebreak.conditions import Condition

NodeId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Action = Literal["escalate", "rectify", "take_private", "fix_facts", "monitor", "amplify", "let_stand", "thank",
                 "respond"]
# Actions that mean "say nothing"; an outcome with one of these cannot also start a reply clock.
SILENT_ACTIONS = frozenset({"monitor", "let_stand"})
CONSIDERATIONS = ("transparency", "sourcing", "timeliness", "tone", "influence")
# The tree is compiled into one prebuilt assessment per path, so a shared node multiplies its paths.
MAX_PATHS = 10_000
MAX_NODES = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Branch(_Strict):
    """One answer to a node's question: if `when` holds, go to `then`."""

    when: Condition
    answer: str | None = Field(None, min_length=1, max_length=120)
    then: str = Field(min_length=1, max_length=48)

    def answer_text(self) -> str:
        """Return the words the path shows for this branch: its `answer`, else the condition described."""
        return self.answer or self.when.describe()


class Node(_Strict):
    """A question: branches tested in order, first match wins, `otherwise` when none does."""

    id: NodeId
    question: str = Field(min_length=1, max_length=200)
    branches: list[Branch]
    otherwise: str = Field(min_length=1, max_length=48)

    @model_validator(mode="before")
    @classmethod
    def _has_otherwise(cls, data: Any) -> Any:
        # Checked before field validation so the message can name the node rather than say "Field required".
        if isinstance(data, dict) and "otherwise" not in data:
            raise ValueError(f"node {data.get('id', '?')!r} has no `otherwise`: say where to go when no branch matches "
                             "(a tree has no dead ends)")
        return data

    @model_validator(mode="after")
    def _branches_can_all_match(self) -> Node:
        if not self.branches:
            raise ValueError(f"node {self.id!r} has no branches; a question needs at least one "
                             f"(or point straight to {self.otherwise!r} instead)")
        for index, branch in enumerate(self.branches):
            # An empty `when` always holds, so every later branch and `otherwise` would be dead.
            if not branch.when.model_dump(exclude_none=True):
                raise ValueError(f"node {self.id!r} branches[{index}].when is empty, so it always matches and "
                                 "nothing after it is ever tested; use `otherwise` instead")
        return self


class Considerations(_Strict):
    """What to weigh when responding, in the words of the method; each is optional."""

    transparency: str | None = Field(None, min_length=1)
    sourcing: str | None = Field(None, min_length=1)
    timeliness: str | None = Field(None, min_length=1)
    tone: str | None = Field(None, min_length=1)
    influence: str | None = Field(None, min_length=1)

    def given(self) -> dict[str, str]:
        """Return the considerations that are set, in the method's order."""
        return {key: text for key in CONSIDERATIONS if (text := getattr(self, key)) is not None}


class Outcome(_Strict):
    """A leaf: the recommended action, what to weigh, and what to do next."""

    id: NodeId
    label: str = Field(min_length=1, max_length=80)
    action: Action
    respond: bool
    considerations: Considerations = Considerations()
    next_step: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _silent_actions_do_not_respond(self) -> Outcome:
        if self.respond and self.action in SILENT_ACTIONS:
            raise ValueError(f"outcome {self.id!r} has action {self.action}, which means no reply; "
                             "set respond: false")
        return self


class AssessmentSpec(_Strict):
    """The `assessment:` section of a playbook: where to start, the questions and the outcomes."""

    start: str = Field(min_length=1, max_length=48)
    nodes: list[Node] = Field(min_length=1, max_length=MAX_NODES)
    outcomes: list[Outcome] = Field(min_length=1, max_length=MAX_NODES)

    @model_validator(mode="after")
    def _is_a_tree_that_always_ends(self) -> AssessmentSpec:
        # Each check relies on the ones before it (a cycle search needs every id known), so stop at the
        # first kind of problem found, but report every problem of that kind.
        for check in (self._duplicate_ids, self._unknown_start, self._unknown_targets, self._cycle,
                      self._unreachable, self._too_many_paths):
            problems = list(check())
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def referenced_categories(self) -> dict[str, str]:
        """Return each category id any `when` mentions, with where it is first mentioned (for cross-checks)."""
        found: dict[str, str] = {}
        for index, node in enumerate(self.nodes):
            for number, branch in enumerate(node.branches):
                for category in branch.when.values_of("category"):
                    found.setdefault(category, f"{_where(index, node)}.branches[{number}].when")
        return found

    def _duplicate_ids(self) -> Iterator[str]:
        places: dict[str, list[str]] = {}
        for index, node in enumerate(self.nodes):
            places.setdefault(node.id, []).append(f"nodes[{index}]")
        for index, outcome in enumerate(self.outcomes):
            places.setdefault(outcome.id, []).append(f"outcomes[{index}]")
        for item_id, where in places.items():
            if len(where) > 1:
                yield (f"id {item_id!r} is used by {' and '.join(where)}; "
                       "ids must be unique across nodes and outcomes")

    def _unknown_start(self) -> Iterator[str]:
        if any(outcome.id == self.start for outcome in self.outcomes):
            yield f"start {self.start!r} is an outcome; start must name a node (a question)"
        elif all(node.id != self.start for node in self.nodes):
            yield f"start names unknown node {self.start!r}{_suggestion(self.start, [n.id for n in self.nodes])}"

    def _unknown_targets(self) -> Iterator[str]:
        known = [node.id for node in self.nodes] + [outcome.id for outcome in self.outcomes]
        for index, node in enumerate(self.nodes):
            targets = [(f".branches[{number}].then", branch.then) for number, branch in enumerate(node.branches)]
            for field, target in (*targets, (".otherwise", node.otherwise)):
                if target not in known:
                    yield (f"{_where(index, node)}{field} names unknown node or outcome {target!r}"
                           f"{_suggestion(target, known)}")

    def _cycle(self) -> Iterator[str]:
        nodes = {node.id: node for node in self.nodes}
        finished: set[str] = set()
        for node in self.nodes:
            cycle = _find_cycle(node.id, nodes, finished)
            if cycle:
                yield "cycle: " + " -> ".join(cycle)
                return

    def _unreachable(self) -> Iterator[str]:
        nodes = {node.id: node for node in self.nodes}
        reached = {self.start}
        waiting = [self.start]
        while waiting:
            node = nodes.get(waiting.pop())
            if node is None:
                continue
            for target in _targets(node):
                if target not in reached:
                    reached.add(target)
                    waiting.append(target)
        for index, node in enumerate(self.nodes):
            if node.id not in reached:
                yield f"{_where(index, node)} cannot be reached from start {self.start!r}"
        for index, outcome in enumerate(self.outcomes):
            if outcome.id not in reached:
                yield f"outcomes[{index}] ({outcome.id}) cannot be reached from start {self.start!r}"

    def _too_many_paths(self) -> Iterator[str]:
        count = _count_paths(self.start, {node.id: node for node in self.nodes}, {})
        if count > MAX_PATHS:
            yield (f"the tree has {count:,} paths from start to an outcome, more than {MAX_PATHS:,}; "
                   "a node reached from many places multiplies the paths after it, so share fewer nodes")


def _where(index: int, node: Node) -> str:
    return f"nodes[{index}] ({node.id})"


def _suggestion(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _targets(node: Node) -> Iterator[str]:
    yield from (branch.then for branch in node.branches)
    yield node.otherwise


def _find_cycle(start: str, nodes: dict[str, Node], finished: set[str]) -> list[str] | None:
    """Search depth-first from `start`; return a cycle as ids (first id repeated at the end), or None."""
    # Iterative, so a long chain of questions cannot exhaust Python's recursion limit.
    trail: list[str] = []
    pending: list[Iterator[str]] = []
    node_id: str | None = start
    while True:
        if node_id is not None:
            if node_id in trail:
                return [*trail[trail.index(node_id):], node_id]
            node = nodes.get(node_id)
            if node is not None and node_id not in finished:
                trail.append(node_id)
                pending.append(_targets(node))
        if not pending:
            return None
        node_id = next(pending[-1], None)
        if node_id is None:
            finished.add(trail.pop())
            pending.pop()


def _count_paths(node_id: str, nodes: dict[str, Node], known: dict[str, int]) -> int:
    """Return how many paths lead from `node_id` to an outcome (the tree is acyclic by now)."""
    node = nodes.get(node_id)
    if node is None:
        return 1
    if node_id not in known:
        known[node_id] = sum(_count_paths(target, nodes, known) for target in _targets(node))
    return known[node_id]
