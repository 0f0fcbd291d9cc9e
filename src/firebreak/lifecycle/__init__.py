"""The rapid-response issue lifecycle as pure rules: stages, time goals, exit gates and texts (DESIGN.md 7).

spec = IssuesSpec.model_validate(yaml_section)            # the playbook's `issues:` section
stage = spec.stage("discovery")
due = stage.due_at(calendar, entered_at)                  # calendar: the compiled `stage.calendar`
blockers = check_exit(stage, GateState(decision_recorded=False))
move = plan_move(spec, "discovery", "internal_discussion", state, override_reason="...")
text = render(spec.reply_template, {"title": title, "link": url})

No database here: the issues package stores issues and calls these.
"""

from firebreak.lifecycle.gates import GateState, StageMove, can_move, check_exit, move_refusal, next_stage, plan_move
from firebreak.lifecycle.schema import (
    DRAFT_KINDS,
    PLACEHOLDERS,
    STAKEHOLDER_ROLES,
    WARN_FRACTION,
    DraftKind,
    ExitGate,
    HoldingStatement,
    IssuesSpec,
    LegalReviewSpec,
    StageSpec,
    StakeholderRole,
    TaskSpec,
    TimeGoal,
)
from firebreak.lifecycle.templates import placeholders, render

__all__ = [
    "DRAFT_KINDS",
    "PLACEHOLDERS",
    "STAKEHOLDER_ROLES",
    "WARN_FRACTION",
    "DraftKind",
    "ExitGate",
    "GateState",
    "HoldingStatement",
    "IssuesSpec",
    "LegalReviewSpec",
    "StageMove",
    "StageSpec",
    "StakeholderRole",
    "TaskSpec",
    "TimeGoal",
    "can_move",
    "check_exit",
    "move_refusal",
    "next_stage",
    "placeholders",
    "plan_move",
    "render",
]
