"""Stage gates: what stops an issue leaving its stage, and which stage moves are allowed.

Moves, as the lifecycle allows them:

* Forward, one stage at a time, to the next stage: every stage's checklist and time goal happen, in
  order, so no stage is skipped silently. Leaving a stage whose gate is not met (required tasks open,
  no decision recorded, no approved version, nothing published) needs an override reason; who may
  override (the issue's owner or a lead) is checked by the caller, which records the reason.
* Back, to any earlier stage: reopening, when new facts undo what a stage settled (the problem is not
  fixed after all, legal withdraws an approval). Going back is never gated.
* Staying put is not a move. Closing the issue is not a stage move either: it ends the issue, from the
  last stage in the normal course.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from firebreak.core.errors import InvalidInput
from firebreak.lifecycle.schema import IssuesSpec, StageSpec

# How a blocker names each kind of draft, and whether the name is plural.
_DRAFT_NAMES = {
    "acknowledgement": ("the acknowledgement", False),
    "confirmation": ("the confirmation post", False),
    "response": ("the response", False),
    "faq": ("the FAQs", True),
    "talking_points": ("the talking points", True),
}


@dataclass(frozen=True, slots=True)
class GateState:
    """What is true of an issue in its current stage, as far as the exit gate cares."""

    open_required_tasks: tuple[str, ...] = ()  # titles, playbook and ad-hoc alike
    decision_recorded: bool = False  # one-off or systemic, with its reason
    approved_kinds: frozenset[str] = field(default_factory=frozenset)  # draft kinds with an approved version
    published_in_stage: bool = False  # something was published since the issue entered the stage


@dataclass(frozen=True, slots=True)
class StageMove:
    """An allowed stage change; `blockers` are the unmet exit conditions a forward move overrides."""

    current: str
    target: str
    direction: Literal["forward", "back"]
    blockers: tuple[str, ...] = ()
    override_reason: str | None = None

    @property
    def overridden(self) -> bool:
        """Whether the move leaves a stage past its unmet gate."""
        return bool(self.blockers)


def check_exit(stage: StageSpec, state: GateState) -> list[str]:
    """Return what stops the issue leaving `stage`, in words for the team; empty when nothing does."""
    blockers = []
    if state.open_required_tasks:
        count = len(state.open_required_tasks)
        titles = "; ".join(state.open_required_tasks)
        blockers.append(f"1 required task is open: {titles}" if count == 1
                        else f"{count} required tasks are open: {titles}")
    if stage.exit.decision and not state.decision_recorded:
        blockers.append("record the one-off / systemic decision and its reason")
    for kind in stage.exit.approved:
        if kind not in state.approved_kinds:
            name, plural = _DRAFT_NAMES[kind]
            blockers.append(f"{name} {'need' if plural else 'needs'} an approved version")
    if stage.exit.published and not state.published_in_stage:
        blockers.append("publish the approved text: nothing has been published in this stage yet")
    return blockers


def next_stage(spec: IssuesSpec, current: str) -> str | None:
    """Return the stage after `current` (None from the last stage)."""
    index = spec.position(current)
    return spec.stages[index + 1].id if index + 1 < len(spec.stages) else None


def move_refusal(spec: IssuesSpec, current: str, target: str) -> str | None:
    """Return why moving from `current` to `target` is not allowed, or None when it is (gates aside)."""
    here, there = spec.position(current), spec.position(target)
    if there == here:
        return f"the issue is already in {target}"
    if there > here + 1:
        return (f"an issue moves forward one stage at a time: from {current} the next stage is "
                f"{spec.stages[here + 1].id}, not {target}")
    return None


def can_move(spec: IssuesSpec, current: str, target: str) -> bool:
    """Whether `target` is the next stage or an earlier one (the gate is checked by `plan_move`)."""
    return move_refusal(spec, current, target) is None


def plan_move(
    spec: IssuesSpec,
    current: str,
    target: str,
    state: GateState,
    *,
    override_reason: str | None = None,
) -> StageMove:
    """Return the move from `current` to `target`, or raise InvalidInput saying why it cannot be made.

    A forward move past an unmet gate needs `override_reason`; the blockers it overrides come back on
    the move so they can be recorded with the reason.
    """
    refusal = move_refusal(spec, current, target)
    if refusal is not None:
        raise InvalidInput(refusal, field="stage")
    if spec.position(target) < spec.position(current):
        return StageMove(current, target, "back")
    blockers = tuple(check_exit(spec.stage(current), state))
    reason = (override_reason or "").strip() or None
    if blockers and reason is None:
        raise InvalidInput(f"{current} cannot be left yet: {'; '.join(blockers)}; "
                           "the owner or a lead may override with a reason", field="override_reason")
    return StageMove(current, target, "forward", blockers, reason if blockers else None)
