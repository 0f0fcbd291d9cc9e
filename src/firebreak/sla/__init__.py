"""SLA policies: which response-time goals apply to a mention, and who hears of a breach.

Pure code over the playbook's `sla:` section; the clocks themselves (business-time arithmetic,
pausing, firing) live with the workflow.
"""

from firebreak.sla.policy import MatchedPolicy, SlaPolicies
from firebreak.sla.schema import METRICS, NOTIFY_KEYWORDS, EscalationLevel, SlaPolicySpec, SlaSpec

__all__ = [
    "METRICS",
    "NOTIFY_KEYWORDS",
    "EscalationLevel",
    "MatchedPolicy",
    "SlaPolicies",
    "SlaPolicySpec",
    "SlaSpec",
]
