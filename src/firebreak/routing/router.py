"""Route a mention to a queue: the first routing rule whose `when` holds, else the default queue.

Every rule's decision is built once, when the playbook loads, so routing a mention only tests
conditions. The rules are also pre-sorted by the value of the fact most of them test (usually the
flag): a red mention is never tested against the rules that only take green ones, and the order
among the remaining rules, which decides the first match, is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from firebreak.conditions import TEXT_FACTS, Facts, Predicate
from firebreak.routing.schema import QueueSpec, RoutingRule, RoutingSpec, TeamSpec, check_references


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where a mention goes, how urgent it is, who else hears of it, and the rule that said so."""

    rule: str  # the rule id, or "default"
    queue: str
    team: str
    priority: str
    assignment: str  # the queue's strategy: least_loaded, round_robin or manual
    outside_hours: str  # the queue's choice out of the team's hours: on_call or hold
    calendar: str  # the team's hours of operation
    notify_targets: tuple[str, ...]
    notify_users: tuple[str, ...]
    explanation: str


_Candidates = tuple[tuple[Predicate, RouteDecision], ...]


class Router:
    """Compiled routing rules; build one per playbook version with `from_spec` and reuse it."""

    def __init__(self, rules: Sequence[tuple[RoutingRule, RouteDecision]], default: RouteDecision,
                 queues: dict[str, QueueSpec], teams: dict[str, TeamSpec]) -> None:
        self._default = default
        self._queues = queues
        self._teams = teams
        compiled = [(rule, rule.when.compile(), decision) for rule, decision in rules]
        # Index on the text fact most rules test at their top level; rules that do not test it are
        # candidates for every value, including a missing fact.
        self._key = max(TEXT_FACTS, key=lambda fact: sum(getattr(rule.when, fact) is not None for rule, _ in rules))
        values = {value for rule, _ in rules for value in getattr(rule.when, self._key) or ()}
        self._by_value: dict[object, _Candidates] = {
            value: tuple((test, decision) for rule, test, decision in compiled
                         if (allowed := getattr(rule.when, self._key)) is None or value in allowed)
            for value in values
        }
        self._unkeyed: _Candidates = tuple(
            (test, decision) for rule, test, decision in compiled if getattr(rule.when, self._key) is None
        )

    @classmethod
    def from_spec(cls, routing: RoutingSpec, queues: Sequence[QueueSpec], teams: Sequence[TeamSpec]) -> Router:
        """Compile the routing section against its queues and teams (checking that they refer to each other)."""
        check_references(teams=teams, queues=queues, routing=routing)
        queues_by_id = {queue.id: queue for queue in queues}
        teams_by_id = {team.id: team for team in teams}

        def decide(rule: str, queue_id: str, priority: str, targets: Sequence[str], users: Sequence[str],
                   explanation: str) -> RouteDecision:
            queue = queues_by_id[queue_id]
            team = teams_by_id[queue.team]
            return RouteDecision(rule, queue.id, team.id, priority, queue.assignment, queue.outside_hours,
                                 team.calendar, tuple(targets), tuple(users), explanation)

        rules = [
            (rule, decide(rule.id, rule.queue, rule.priority, rule.also_notify.targets, rule.also_notify.users,
                          f"rule {rule.id}: {rule.when.describe()}"))
            for rule in routing.rules
        ]
        default = decide("default", routing.default_queue, "normal", (), (),
                         f"no rule matched; default queue {routing.default_queue}")
        return cls(rules, default, queues_by_id, teams_by_id)

    def route(self, facts: Facts) -> RouteDecision:
        """Return the decision of the first rule that matches `facts`, else the default."""
        for test, decision in self._by_value.get(facts.get(self._key), self._unkeyed):
            if test(facts):
                return decision
        return self._default

    def queue(self, queue_id: str) -> QueueSpec:
        """Return a queue of this playbook by id (KeyError if there is none)."""
        return self._queues[queue_id]

    def team(self, team_id: str) -> TeamSpec:
        """Return a team of this playbook by id (KeyError if there is none)."""
        return self._teams[team_id]
