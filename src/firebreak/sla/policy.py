"""Match a mention to its SLA policy: the first policy whose `when` holds.

Matching runs for every mention in the pipeline, so each policy's answer is built once per playbook
version and matching only tests conditions.
"""

from __future__ import annotations

from dataclasses import dataclass

from firebreak.conditions import Facts
from firebreak.sla.schema import METRICS, EscalationLevel, SlaPolicySpec, SlaSpec


@dataclass(frozen=True, slots=True)
class MatchedPolicy:
    """The policy that applies to a mention: its targets in seconds (None: no clock) and its calendar."""

    policy: str
    calendar: str
    first_response: float | None
    next_response: float | None
    resolution: float | None
    warn_at: float
    explanation: str

    def targets(self) -> dict[str, float]:
        """Return the seconds of each metric with a target, in METRICS order: the clocks to start."""
        return {metric: seconds for metric in METRICS if (seconds := getattr(self, metric)) is not None}


class SlaPolicies:
    """Compiled SLA policies; build one per playbook version with `from_spec` and reuse it."""

    def __init__(self, spec: SlaSpec) -> None:
        self._matched = {policy.id: _matched(policy, spec.warn_at) for policy in spec.policies}
        self._policies = tuple((policy.when.compile(), self._matched[policy.id]) for policy in spec.policies)
        self.escalation: tuple[EscalationLevel, ...] = tuple(spec.escalation)
        # Seconds after a breach at which each level fires, as the workflow's clocks take them.
        self.escalation_delays: tuple[float, ...] = tuple(level.after for level in spec.escalation)

    @classmethod
    def from_spec(cls, spec: SlaSpec) -> SlaPolicies:
        """Compile the `sla:` section."""
        return cls(spec)

    def match(self, facts: Facts) -> MatchedPolicy | None:
        """Return the first policy whose `when` holds for `facts`, or None when none does."""
        for test, matched in self._policies:
            if test(facts):
                return matched
        return None

    def get(self, policy_id: str) -> MatchedPolicy | None:
        """Return a policy by id, e.g. to start a next-response clock under the policy a mention got."""
        return self._matched.get(policy_id)


def _matched(policy: SlaPolicySpec, warn_at: float) -> MatchedPolicy:
    return MatchedPolicy(policy.id, policy.calendar, policy.first_response, policy.next_response, policy.resolution,
                         warn_at, f"policy {policy.id}: {policy.when.describe()}")
