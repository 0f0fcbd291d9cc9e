"""The issue lifecycle through the service: open, people, stages with time goals and gates, tasks, the
decision, linked mentions, close; the board and detail; and stage clocks through the real SLA scheduler.

Every test runs on SQLite and PostgreSQL with fixed times around Friday 13 November 2026 (London is on
GMT, so London wall-clock times equal UTC). The default playbook's `support_hours` are Mon-Fri 08-20 and
Sat 10-16, so Saturday counts as a business day and Sunday does not.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from firebreak.core.clock import FixedClock
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from firebreak.db.engine import Database
from firebreak.issues import board, service
from firebreak.issues.models import (
    Draft,
    DraftVersion,
    Issue,
    IssueMention,
    IssueStage,
    IssueStakeholder,
    IssueTask,
    Publication,
)
from firebreak.notify.models import Alert
from firebreak.playbook.loader import load_playbook
from firebreak.settings import Settings
from firebreak.workflow import clocks
from firebreak.workflow.models import SlaClock, SlaEvent
from firebreak.workflow.runtime import WorkflowRuntime
from tests.factories import WorkspaceFixture
from tests.issues_support import (
    ANA,
    CORA,
    EXA,
    GUS,
    LEE,
    LEX,
    OPENED_AT,
    OWEN,
    SUE,
    IssueCast,
    add_issue_cast,
    advance_to,
    as_actor,
    complete_open_tasks,
    issue_row,
    issue_write,
    open_test_issue,
    timeline_kinds,
)
from tests.workflow_support import ingest_at, london, post, services_for

HOUR = timedelta(hours=1)
ACK_TITLES = 4  # the default acknowledgement checklist
DISCOVERY_TITLES = 4


@pytest.fixture
def cast(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> IssueCast:
    return add_issue_cast(db, acme, globex)


def call(db: Database, settings: Settings, ws: WorkspaceFixture, action: str, *, as_email: str = OWEN, now=OPENED_AT,
         **kwargs):  # type: ignore[no-untyped-def]
    """Run one issue service function as `as_email` at `now`, committed."""
    with issue_write(db, settings, ws) as (session, runtime):
        result = getattr(service, action)(session, runtime=runtime, workspace_id=ws.id,
                                          actor=as_actor(session, ws, as_email), now=now, **kwargs)
        return result.id if hasattr(result, "id") else result


def tasks_of(db: Database, issue_id: int, stage: str | None = None) -> list[IssueTask]:
    with db.read() as session:
        stmt = select(IssueTask).where(IssueTask.issue_id == issue_id).order_by(IssueTask.id)
        if stage is not None:
            stmt = stmt.where(IssueTask.stage == stage)
        rows = list(session.scalars(stmt))
        session.expunge_all()
    return rows


def visits_of(db: Database, issue_id: int) -> list[IssueStage]:
    with db.read() as session:
        rows = list(session.scalars(select(IssueStage).where(IssueStage.issue_id == issue_id).order_by(IssueStage.id)))
        session.expunge_all()
    return rows


def stage_clocks(db: Database, issue_id: int) -> list[SlaClock]:
    with db.read() as session:
        rows = list(session.scalars(select(SlaClock).where(SlaClock.issue_id == issue_id).order_by(SlaClock.id)))
        session.expunge_all()
    return rows


def publish_directly(db: Database, ws: WorkspaceFixture, issue_id: int, *, kind: str, at, slug: str) -> None:  # type: ignore[no-untyped-def]
    """An approved version of a `kind` draft, published at `at` (rows as the content and publishing services
    leave them), so the gates can see an approval and a publication."""
    with db.write() as session:
        draft = Draft(workspace_id=ws.id, issue_id=issue_id, kind=kind, title=f"The {kind}", created_at=at)
        session.add(draft)
        session.flush()
        version = DraftVersion(workspace_id=ws.id, draft_id=draft.id, number=1, body="We know.", state="approved",
                               author=CORA, created_at=at, submitted_at=at, approved_at=at, approved_by=LEX)
        session.add(version)
        session.flush()
        session.add(Publication(workspace_id=ws.id, issue_id=issue_id, version_id=version.id, slug=slug,
                                title=f"The {kind}", body="We know.", published_at=at, published_by=CORA,
                                updated_at=at))


# ---------------------------------------------------------------------------------------------- opening


def test_opening_starts_the_first_stage_with_its_goal_clock_checklist_and_people(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme, link_rules={"keywords": [" battery  drain ", "battery drain"],
                                                               "products": ["Latch"]})
    issue = issue_row(db, issue_id)
    assert (issue.number, issue.state, issue.stage, issue.owner_id, issue.opened_from) == (
        1, "open", "acknowledgement", cast.owen, "manual")
    assert issue.stage_entered_at == OPENED_AT and issue.created_by == OWEN
    assert issue.link_rules == {"keywords": ["battery drain"], "categories": [], "products": ["latch"]}
    [visit] = visits_of(db, issue_id)
    # Acknowledgement: 2h on the 24x7 calendar, warned at 1h.
    assert (visit.stage, visit.goal, visit.calendar, visit.due_at) == ("acknowledgement", "2h", "always",
                                                                      OPENED_AT + 2 * HOUR)
    [clock] = stage_clocks(db, issue_id)
    assert (clock.metric, clock.reference_id, clock.state, clock.calendar) == ("stage", visit.id, "running", "always")
    assert (clock.warn_at, clock.due_at, clock.target_seconds) == (OPENED_AT + HOUR, OPENED_AT + 2 * HOUR, 7200)
    assert (clock.next_event, clock.next_fire_at) == ("warning", OPENED_AT + HOUR)
    tasks = tasks_of(db, issue_id)
    assert len(tasks) == ACK_TITLES and all(task.from_playbook and task.stage == "acknowledgement" for task in tasks)
    # Owners by the task's stakeholder role; due times on the stage's calendar.
    assert [(task.owner_id, task.due_at, task.required) for task in tasks] == [
        (cast.cora, OPENED_AT + HOUR, True),
        (cast.owen, OPENED_AT + timedelta(minutes=30), False),
        (cast.sue, OPENED_AT + HOUR, False),
        (cast.owen, None, False),
    ]
    with db.read() as session:
        people = sorted(session.execute(select(IssueStakeholder.user_id, IssueStakeholder.role).where(
            IssueStakeholder.issue_id == issue_id)).all())
    assert people == sorted([(cast.cora, "communications"), (cast.lex, "legal"), (cast.pia, "product"),
                             (cast.sue, "support"), (cast.exa, "executive_sponsor")])
    assert timeline_kinds(db, issue_id) == ["issue.opened"]
    second = open_test_issue(db, settings, acme, title="Checkout errors", as_email=CORA, owner=CORA, stakeholders=())
    assert issue_row(db, second).number == 2
    # Nobody holds support on the second issue: the support task falls to the owner.
    assert {task.owner_id for task in tasks_of(db, second)} == {cast.cora}


def test_who_may_open_and_who_may_own(db: Database, settings: Settings, acme: WorkspaceFixture,
                                      globex: WorkspaceFixture, cast: IssueCast) -> None:
    with pytest.raises(Forbidden, match="open_issue"):
        open_test_issue(db, settings, acme, as_email=LEX)
    with pytest.raises(Forbidden, match="open_issue"):
        open_test_issue(db, settings, acme, as_email=ANA)
    with pytest.raises(InvalidInput, match="not a member") as refused:
        open_test_issue(db, settings, acme, owner=GUS)
    assert refused.value.field == "owner"
    with pytest.raises(InvalidInput) as refused:
        open_test_issue(db, settings, acme, stakeholders=[(CORA, "spokesperson")])
    assert refused.value.field == "role"
    with pytest.raises(InvalidInput) as refused:
        open_test_issue(db, settings, acme, severity="dire")
    assert refused.value.field == "severity"
    with pytest.raises(InvalidInput) as refused:
        open_test_issue(db, settings, acme, link_rules={"hashtags": ["#latch"]})
    assert refused.value.field == "link_rules"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Issue)) == 0
    # An executive may open one; globex sees nothing of acme's.
    open_test_issue(db, settings, acme, as_email=EXA, owner=EXA)
    with db.read() as session:
        runtime = services_for(settings).workflow(session, globex.id)
        assert all(not column["cards"] for column in board.board(session, runtime, globex.id, OPENED_AT)["columns"])


# ---------------------------------------------------------------------------------------------- time goals


def test_discovery_goal_is_two_business_days_on_support_hours(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    """Friday 15:00 + 2bd: Saturday (open 10-16) is day one, Sunday is closed, Monday is day two."""
    issue_id = open_test_issue(db, settings, acme, now=OPENED_AT - 2 * HOUR)
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="acknowledged",
         now=OPENED_AT)
    discovery = visits_of(db, issue_id)[-1]
    monday_15 = london(2026, 11, 16, 15)
    assert (discovery.stage, discovery.goal, discovery.calendar, discovery.due_at) == (
        "discovery", "2bd", "support_hours", monday_15)
    clock = stage_clocks(db, issue_id)[-1]
    # Business time to the deadline: Fri 15-20 (5h) + Sat 10-16 (6h) + Mon 08-15 (7h).
    assert clock.target_seconds == 18 * 3600
    assert (clock.warn_at, clock.due_at) == (london(2026, 11, 14, 15), monday_15)  # warn: 1bd
    tasks = tasks_of(db, issue_id, "discovery")
    assert [task.due_at for task in tasks] == [london(2026, 11, 13, 19), london(2026, 11, 14, 15), None, None]
    # The board measures time left in business time: Saturday night, 4h of Monday morning's hours are gone.
    with db.read() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        card = board.board(session, runtime, acme.id, london(2026, 11, 16, 12))["columns"][1]["cards"][0]
    assert card["time_left_seconds"] == 3 * 3600 and not card["overdue"]
    assert card["time_in_stage_seconds"] == (london(2026, 11, 16, 12) - OPENED_AT).total_seconds()


@hypothesis_settings(max_examples=60, deadline=None)
@given(start=st.datetimes(min_value=london(2026, 1, 1, 0).replace(tzinfo=None),
                          max_value=london(2027, 12, 31, 0).replace(tzinfo=None)),
       stage_id=st.sampled_from(["acknowledgement", "discovery", "internal_discussion", "content_approval",
                                 "publishing"]))
def test_a_stage_clock_falls_due_exactly_at_the_stage_deadline(start, stage_id) -> None:  # type: ignore[no-untyped-def]
    """The clock's due and warn are the stage's own (business days are dates, not hours), and measured on
    its calendar it is breached at the deadline and not a second before."""
    runtime = _default_runtime()
    stage = runtime.loaded.playbook.issues.stage(stage_id)
    calendar = runtime.calendar(stage.calendar)
    at = start.replace(tzinfo=london(2026, 1, 1, 0).tzinfo)
    due = stage.due_at(calendar, at)
    columns = service.stage_clock_columns(calendar, stage, at, due)
    assert columns["due_at"] == due and columns["warn_at"] == stage.warn_at(calendar, at)
    assert columns["next_event"] == "warning" and columns["next_fire_at"] == columns["warn_at"] < due
    clock = SimpleNamespace(**columns)
    assert clocks.view(calendar, clock, due).breached
    before = due - timedelta(seconds=1)
    assert not clocks.view(calendar, clock, before).breached or calendar.between(before, due) == 0


_RUNTIME: list[WorkflowRuntime] = []


def _default_runtime() -> WorkflowRuntime:
    if not _RUNTIME:
        _RUNTIME.append(WorkflowRuntime.compile(load_playbook()))
    return _RUNTIME[0]


# ---------------------------------------------------------------------------------------------- gates


def test_gates_block_until_tasks_decision_and_publication_are_done(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme)
    with pytest.raises(InvalidInput, match="1 required task is open: Publish one public acknowledgement") as refused:
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery")
    assert refused.value.field == "override_reason"
    assert "nothing has been published" in str(refused.value)
    # One stage at a time, and no move to where it is.
    with pytest.raises(InvalidInput, match="one stage at a time"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="internal_discussion")
    with pytest.raises(InvalidInput, match="already in acknowledgement"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="acknowledgement")
    with pytest.raises(InvalidInput, match="unknown stage 'triage'"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="triage")
    # Done by its owner (cora, communications) and published: the gate opens without a reason.
    [publish_task] = [task for task in tasks_of(db, issue_id) if task.required]
    call(db, settings, acme, "complete_task", issue_id=issue_id, task_id=publish_task.id, as_email=CORA,
         now=OPENED_AT + 0.5 * HOUR)
    publish_directly(db, acme, issue_id, kind="acknowledgement", at=OPENED_AT + 0.75 * HOUR, slug="we-know")
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", now=OPENED_AT + HOUR)
    assert issue_row(db, issue_id).stage == "discovery"
    ack = visits_of(db, issue_id)[0]
    assert (ack.left_at, ack.overdue, ack.override_reason, ack.left_by) == (OPENED_AT + HOUR, False, None, OWEN)
    assert stage_clocks(db, issue_id)[0].state == "met"
    # Discovery needs the decision (and its required tasks).
    complete_open_tasks(db, settings, acme, issue_id, now=OPENED_AT + 2 * HOUR)
    with pytest.raises(InvalidInput, match="record the one-off / systemic decision"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="internal_discussion",
             now=OPENED_AT + 2 * HOUR)
    with pytest.raises(InvalidInput) as refused:
        call(db, settings, acme, "record_decision", issue_id=issue_id, decision="systemic", reason="  ")
    assert refused.value.field == "reason"
    with pytest.raises(InvalidInput) as refused:
        call(db, settings, acme, "record_decision", issue_id=issue_id, decision="maybe", reason="unsure")
    assert refused.value.field == "decision"
    with pytest.raises(Forbidden, match="open_issue"):
        call(db, settings, acme, "record_decision", issue_id=issue_id, decision="systemic", reason="many", as_email=ANA)
    call(db, settings, acme, "record_decision", issue_id=issue_id, decision="systemic",
         reason="412 reports across X and the forum, all on firmware 4.2", now=OPENED_AT + 2 * HOUR)
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="internal_discussion", now=OPENED_AT + 3 * HOUR)
    issue = issue_row(db, issue_id)
    assert (issue.stage, issue.decision) == ("internal_discussion", "systemic")
    # Content approval needs an approved response: a published acknowledgement does not count.
    complete_open_tasks(db, settings, acme, issue_id, now=OPENED_AT + 3 * HOUR)
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="content_approval", now=OPENED_AT + 3 * HOUR)
    complete_open_tasks(db, settings, acme, issue_id, now=OPENED_AT + 3 * HOUR)
    with pytest.raises(InvalidInput, match="the response needs an approved version"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="publishing", now=OPENED_AT + 3 * HOUR)
    publish_directly(db, acme, issue_id, kind="response", at=OPENED_AT + 3 * HOUR, slug="fixed")
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="publishing", now=OPENED_AT + 4 * HOUR)
    # Publishing needs a publication since the stage was entered: the one before it does not count.
    complete_open_tasks(db, settings, acme, issue_id, now=OPENED_AT + 4 * HOUR)
    with pytest.raises(InvalidInput, match="nothing has been published in this stage"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="aftermath", now=OPENED_AT + 4 * HOUR)


def test_only_the_owner_or_override_gate_may_pass_a_blocked_gate_and_only_with_a_reason(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme)
    # cora may open issues (so move them) but not override a gate.
    with pytest.raises(Forbidden, match="override_gate"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="urgent",
             as_email=CORA)
    # An agent may neither move nor override; legal neither.
    for who in (ANA, SUE, LEX):
        with pytest.raises(Forbidden, match="open_issue"):
            call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="urgent",
                 as_email=who)
    # A lead who is not the owner overrides with a reason; a blank reason is no reason.
    with pytest.raises(InvalidInput, match="may override with a reason"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="  ",
             as_email=LEE)
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery",
         override_reason="acknowledged on the phone to the press", as_email=LEE, now=OPENED_AT + 3 * HOUR)
    ack = visits_of(db, issue_id)[0]
    assert ack.override_reason == "acknowledged on the phone to the press" and ack.left_by == LEE
    assert ack.overdue  # left an hour after its 2h goal
    assert stage_clocks(db, issue_id)[0].state == "met"
    # The owner needs no role permission: owen's issue handed to sue (an agent) is hers to run.
    call(db, settings, acme, "update_issue", issue_id=issue_id, owner_email=SUE)
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="internal_discussion",
         override_reason="decision made in the war room", as_email=SUE, now=OPENED_AT + 4 * HOUR)
    assert issue_row(db, issue_id).stage == "internal_discussion"
    with pytest.raises(Conflict, match="changed since you loaded it"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", expected_revision=1)


def test_moving_back_reopens_a_stage_without_duplicating_its_tasks(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme)
    complete_open_tasks(db, settings, acme, issue_id, now=OPENED_AT)
    advance_to(db, settings, acme, issue_id, "discovery", now=OPENED_AT + HOUR)
    assert len(tasks_of(db, issue_id)) == ACK_TITLES + DISCOVERY_TITLES
    # Back to acknowledgement: never gated, by the owner without a reason.
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="acknowledgement", now=OPENED_AT + 2 * HOUR)
    assert len(tasks_of(db, issue_id)) == ACK_TITLES + DISCOVERY_TITLES
    assert all(task.done_at is not None for task in tasks_of(db, issue_id, "acknowledgement"))
    visits = visits_of(db, issue_id)
    assert [(v.stage, v.left_at) for v in visits] == [
        ("acknowledgement", OPENED_AT + HOUR), ("discovery", OPENED_AT + 2 * HOUR), ("acknowledgement", None)]
    assert visits[2].due_at == OPENED_AT + 4 * HOUR  # a fresh 2h goal from the return
    assert [c.state for c in stage_clocks(db, issue_id)] == ["met", "cancelled", "running"]
    # Forward again: only the publication still blocks, and discovery's checklist is the same one.
    with pytest.raises(InvalidInput) as refused:
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", now=OPENED_AT + 3 * HOUR)
    assert "required task" not in str(refused.value) and "published" in str(refused.value)
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="still known",
         now=OPENED_AT + 3 * HOUR)
    assert len(tasks_of(db, issue_id)) == ACK_TITLES + DISCOVERY_TITLES
    assert [c.state for c in stage_clocks(db, issue_id)] == ["met", "cancelled", "met", "running"]


def test_the_timeline_records_every_change_in_order(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    [first, second] = ingest_at(db, acme, [post("t1", "battery dead again", at=OPENED_AT - HOUR),
                                           post("t2", "latch drains", at=OPENED_AT - HOUR)], received_at=OPENED_AT)
    issue_id = open_test_issue(db, settings, acme, mention_ids=[first])
    task_id = call(db, settings, acme, "add_task", issue_id=issue_id, title="Call the firmware team", required=True,
                   owner_email=ANA, due_at=OPENED_AT + HOUR)
    call(db, settings, acme, "complete_task", issue_id=issue_id, task_id=task_id, as_email=ANA)
    call(db, settings, acme, "reopen_task", issue_id=issue_id, task_id=task_id)
    call(db, settings, acme, "add_stakeholder", issue_id=issue_id, email=ANA, role="support")
    call(db, settings, acme, "remove_stakeholder", issue_id=issue_id, email=ANA, role="support")
    call(db, settings, acme, "link", issue_id=issue_id, mention_ids=[second], as_email=ANA)
    call(db, settings, acme, "unlink", issue_id=issue_id, mention_id=first, as_email=ANA)
    call(db, settings, acme, "update_issue", issue_id=issue_id, severity="critical")
    call(db, settings, acme, "record_decision", issue_id=issue_id, decision="one_off", reason="one batch")
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="moving on")
    assert timeline_kinds(db, issue_id) == [
        "issue.opened", "mentions.linked", "task.added", "task.done", "task.reopened", "stakeholder.added",
        "stakeholder.removed", "mentions.linked", "mention.unlinked", "issue.updated", "decision.recorded",
        "gate.overridden", "stage.moved",
    ]
    with db.read() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        detail = board.issue_detail(session, runtime, acme.id, issue_id, OPENED_AT)
    events = detail["timeline"]
    assert [event["id"] for event in events] == sorted(event["id"] for event in events)
    assert events[-2]["details"]["blockers"][0].startswith("2 required tasks are open")
    assert events[-1]["details"]["from"] == "acknowledgement" and events[-1]["details"]["to"] == "discovery"
    assert events[9]["details"]["changes"] == {"severity": ["high", "critical"]}
    assert issue_row(db, issue_id).opened_from == "mentions"


# ---------------------------------------------------------------------------------------------- tasks, people, links


def test_tasks_are_run_by_their_owner_the_issue_owner_or_open_issue(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme)
    support_task = next(task for task in tasks_of(db, issue_id) if task.owner_id == cast.sue)
    with pytest.raises(Forbidden, match="open_issue"):
        call(db, settings, acme, "complete_task", issue_id=issue_id, task_id=support_task.id, as_email=ANA)
    call(db, settings, acme, "complete_task", issue_id=issue_id, task_id=support_task.id, as_email=SUE,
         now=OPENED_AT + 2 * HOUR)
    [done] = [task for task in tasks_of(db, issue_id) if task.id == support_task.id]
    assert (done.done_at, done.done_by) == (OPENED_AT + 2 * HOUR, SUE)
    with pytest.raises(InvalidInput, match="already done"):
        call(db, settings, acme, "complete_task", issue_id=issue_id, task_id=support_task.id, as_email=SUE)
    call(db, settings, acme, "reopen_task", issue_id=issue_id, task_id=support_task.id, as_email=CORA)
    with pytest.raises(InvalidInput, match="is not done"):
        call(db, settings, acme, "reopen_task", issue_id=issue_id, task_id=support_task.id)
    with pytest.raises(Forbidden, match="open_issue"):
        call(db, settings, acme, "add_task", issue_id=issue_id, title="Something", as_email=SUE)
    with pytest.raises(InvalidInput, match="cannot be required") as refused:
        call(db, settings, acme, "add_task", issue_id=issue_id, title="Survey", stage="aftermath", required=True)
    assert refused.value.field == "required"
    with pytest.raises(InvalidInput, match="unknown stage"):
        call(db, settings, acme, "add_task", issue_id=issue_id, title="Survey", stage="later")
    with pytest.raises(InvalidInput, match="not a member") as refused:
        call(db, settings, acme, "add_task", issue_id=issue_id, title="Survey", owner_email=GUS)
    assert refused.value.field == "owner"
    with pytest.raises(NotFound, match="no task 999999"):
        call(db, settings, acme, "complete_task", issue_id=issue_id, task_id=999_999)
    # An ad-hoc required task blocks the gate like a playbook one.
    task_id = call(db, settings, acme, "add_task", issue_id=issue_id, title="Brief the CEO", required=True)
    with db.read() as session:
        state = service.gate_state(session, session.get(Issue, issue_id))
    assert state.open_required_tasks == (tasks_of(db, issue_id)[0].title, "Brief the CEO")
    assert tasks_of(db, issue_id)[-1].id == task_id and tasks_of(db, issue_id)[-1].owner_id == cast.owen


def test_stakeholders_and_edits(db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme, stakeholders=())
    call(db, settings, acme, "add_stakeholder", issue_id=issue_id, email=" Cora@Acme.test ", role="communications")
    revision = issue_row(db, issue_id).revision
    call(db, settings, acme, "add_stakeholder", issue_id=issue_id, email=CORA, role="communications")
    assert issue_row(db, issue_id).revision == revision  # already there: nothing changes
    with pytest.raises(InvalidInput, match="owner is the issue's own field"):
        call(db, settings, acme, "add_stakeholder", issue_id=issue_id, email=CORA, role="owner")
    with pytest.raises(InvalidInput, match="not a member"):
        call(db, settings, acme, "add_stakeholder", issue_id=issue_id, email=GUS, role="support")
    with pytest.raises(Forbidden):
        call(db, settings, acme, "add_stakeholder", issue_id=issue_id, email=SUE, role="support", as_email=SUE)
    with pytest.raises(NotFound, match="is not legal"):
        call(db, settings, acme, "remove_stakeholder", issue_id=issue_id, email=CORA, role="legal")
    call(db, settings, acme, "remove_stakeholder", issue_id=issue_id, email=CORA, role="communications")
    call(db, settings, acme, "update_issue", issue_id=issue_id, title="  Latch   batteries drain ", summary="worse",
         expected_revision=issue_row(db, issue_id).revision)
    issue = issue_row(db, issue_id)
    assert (issue.title, issue.summary) == ("Latch batteries drain", "worse")
    with pytest.raises(Conflict):
        call(db, settings, acme, "update_issue", issue_id=issue_id, title="Stale", expected_revision=1)
    with pytest.raises(InvalidInput) as refused:
        call(db, settings, acme, "update_issue", issue_id=issue_id, title=" ")
    assert refused.value.field == "title"
    with pytest.raises(NotFound):
        call(db, settings, acme, "update_issue", issue_id=issue_id + 1000, title="Nope")


def test_linking_mentions_is_idempotent_and_stays_in_the_workspace(
        db: Database, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture, cast: IssueCast) -> None:
    ids = ingest_at(db, acme, [
        post("m1", "battery dead after 4.2", at=OPENED_AT - HOUR, url="https://x.com/a/status/1",
             conversation_id="c1"),
        post("m2", "same here", at=OPENED_AT - HOUR / 2, url="https://forum.latch.example/t/44"),
        post("m3", "mine too", at=OPENED_AT - HOUR / 4),
    ], received_at=OPENED_AT)
    [theirs] = ingest_at(db, globex, [post("g1", "battery", at=OPENED_AT)], received_at=OPENED_AT)
    issue_id = open_test_issue(db, settings, acme, mention_ids=ids[:1])
    assert call(db, settings, acme, "link", issue_id=issue_id, mention_ids=ids, as_email=ANA) == 2
    assert call(db, settings, acme, "link", issue_id=issue_id, mention_ids=ids, as_email=ANA) == 0
    with pytest.raises(InvalidInput, match=f"no mention {theirs} in this workspace"):
        call(db, settings, acme, "link", issue_id=issue_id, mention_ids=[ids[0], theirs], as_email=ANA)
    with pytest.raises(Forbidden, match="respond"):
        call(db, settings, acme, "link", issue_id=issue_id, mention_ids=ids, as_email=LEX)
    with db.read() as session:
        rows = session.execute(select(IssueMention.mention_id, IssueMention.site, IssueMention.conversation_id,
                                      IssueMention.posted_at, IssueMention.linked_by)
                               .where(IssueMention.issue_id == issue_id).order_by(IssueMention.mention_id)).all()
    assert [tuple(row) for row in rows] == [
        (ids[0], "x.com", "c1", OPENED_AT - HOUR, OWEN),
        (ids[1], "forum.latch.example", "m2", OPENED_AT - HOUR / 2, ANA),  # a thread of its own
        (ids[2], "x", "m3", OPENED_AT - HOUR / 4, ANA),  # no URL: the channel kind
    ]
    call(db, settings, acme, "unlink", issue_id=issue_id, mention_id=ids[2], as_email=ANA)
    with pytest.raises(NotFound, match="is not linked"):
        call(db, settings, acme, "unlink", issue_id=issue_id, mention_id=ids[2], as_email=ANA)
    with db.read() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        detail = board.issue_detail(session, runtime, acme.id, issue_id, OPENED_AT)
    assert detail["counts"]["linked_mentions"] == 2
    assert detail["counts"]["by_site"] == {"forum.latch.example": 1, "x.com": 1}


# ---------------------------------------------------------------------------------------------- closing


def test_closing_from_the_last_stage_or_early_with_override_gate(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme)
    with pytest.raises(Forbidden, match="override_gate"):
        call(db, settings, acme, "close_issue", issue_id=issue_id, reason="false alarm", as_email=CORA)
    with pytest.raises(InvalidInput, match="needs a reason") as refused:
        call(db, settings, acme, "close_issue", issue_id=issue_id)
    assert refused.value.field == "reason"
    call(db, settings, acme, "close_issue", issue_id=issue_id, reason="a joke account", as_email=LEE,
         now=OPENED_AT + HOUR)
    issue = issue_row(db, issue_id)
    assert (issue.state, issue.closed_at) == ("closed", OPENED_AT + HOUR)
    assert visits_of(db, issue_id)[0].override_reason == "a joke account"
    assert [c.state for c in stage_clocks(db, issue_id)] == ["cancelled"]
    with pytest.raises(InvalidInput, match="is closed"):
        call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="x")
    with pytest.raises(InvalidInput, match="is closed"):
        call(db, settings, acme, "add_task", issue_id=issue_id, title="Too late")

    second = open_test_issue(db, settings, acme)
    advance_to(db, settings, acme, second, "aftermath", now=OPENED_AT + HOUR)
    with pytest.raises(Forbidden, match="open_issue"):
        call(db, settings, acme, "close_issue", issue_id=second, as_email=SUE)
    call(db, settings, acme, "close_issue", issue_id=second, as_email=CORA, now=OPENED_AT + 10 * HOUR)
    closed = issue_row(db, second)
    assert closed.state == "closed" and closed.stage == "aftermath"
    assert visits_of(db, second)[-1].left_at == OPENED_AT + 10 * HOUR
    assert timeline_kinds(db, second)[-1] == "issue.closed"
    with db.read() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        shut = board.board(session, runtime, acme.id, OPENED_AT + 20 * HOUR, state="closed")
        still_open = board.board(session, runtime, acme.id, OPENED_AT + 20 * HOUR)
    assert sorted(card["id"] for column in shut["columns"] for card in column["cards"]) == [issue_id, second]
    aftermath = next(column for column in shut["columns"] if column["stage"] == "aftermath")
    assert aftermath["cards"][0]["time_in_stage_seconds"] == 9 * 3600  # until it closed
    assert not any(column["cards"] for column in still_open["columns"])


# ---------------------------------------------------------------------------------------------- board and detail


def test_the_board_and_the_detail(db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    ids = ingest_at(db, acme, [post("b1", "dead latch", at=OPENED_AT), post("b2", "dead again", at=OPENED_AT)],
                    received_at=OPENED_AT)
    late = open_test_issue(db, settings, acme, title="Latch battery drain", mention_ids=ids)
    calm = open_test_issue(db, settings, acme, title="App login slow", severity="low", now=OPENED_AT + HOUR)
    moved = open_test_issue(db, settings, acme, title="Shipping delays", severity="medium")
    advance_to(db, settings, acme, moved, "discovery", now=OPENED_AT)
    now = OPENED_AT + 2.5 * HOUR
    with db.read() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        result = board.board(session, runtime, acme.id, now)
        detail = board.issue_detail(session, runtime, acme.id, late, now)
    assert [column["stage"] for column in result["columns"]] == [
        "acknowledgement", "discovery", "internal_discussion", "content_approval", "publishing", "aftermath"]
    assert result["columns"][0]["goal"] == "2h" and result["columns"][1]["goal"] == "2 business days"
    first, second = result["columns"][0]["cards"]
    assert (first["id"], first["overdue"], first["time_left_seconds"]) == (late, True, -0.5 * 3600)
    assert (first["owner"], first["linked_mentions"], first["severity"]) == (OWEN, 2, "high")
    assert first["time_in_stage_seconds"] == 2.5 * 3600 and first["due_at"] == OPENED_AT + 2 * HOUR
    assert (second["id"], second["overdue"], second["time_left_seconds"]) == (calm, False, 0.5 * 3600)
    [card] = result["columns"][1]["cards"]
    assert card["id"] == moved and card["due_at"] == london(2026, 11, 16, 15)

    assert (detail["number"], detail["stage_label"], detail["owner"]) == (1, "Acknowledgement", OWEN)
    assert {(p["email"], p["role"]) for p in detail["stakeholders"]} >= {(CORA, "communications"), (LEX, "legal")}
    assert detail["current"]["overdue"] and detail["current"]["next_stage"] == "discovery"
    assert detail["current"]["blockers"] == [
        "1 required task is open: " + tasks_of(db, late)[0].title,
        "publish the approved text: nothing has been published in this stage yet"]
    [visit] = detail["stages"]
    assert (visit["goal"], visit["goal_text"], visit["overdue"]) == ("2h", "2h", True)
    assert visit["clock"]["state"] == "running" and visit["clock"]["remaining_seconds"] == -1800
    [group] = detail["tasks"]
    assert group["stage"] == "acknowledgement" and len(group["tasks"]) == ACK_TITLES
    assert group["tasks"][0]["owner"] == CORA and group["tasks"][0]["overdue"]
    assert detail["counts"]["linked_mentions"] == 2 and detail["counts"]["tasks_open"] == ACK_TITLES
    assert [event["kind"] for event in detail["timeline"]] == ["issue.opened", "mentions.linked"]
    with db.read() as session, pytest.raises(InvalidInput, match="state 'all'"):
        board.board(session, runtime, acme.id, now, state="all")


# ---------------------------------------------------------------------------------------------- stage clocks fire


def _tick(settings: Settings, db: Database, at):  # type: ignore[no-untyped-def]
    scheduler = services_for(settings).scheduler()
    scheduler.clock = FixedClock(at)
    return scheduler.tick(db)


def test_a_stage_clock_warns_breaches_and_escalates_exactly_once(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme)
    [clock] = stage_clocks(db, issue_id)
    assert _tick(settings, db, OPENED_AT + 0.5 * HOUR).fired == []
    assert _tick(settings, db, OPENED_AT + HOUR).fired == [(clock.id, "warning")]
    assert _tick(settings, db, OPENED_AT + 1.5 * HOUR).fired == []
    # The breach, then escalation 1 (after 0m: the owner) in the same tick.
    assert _tick(settings, db, OPENED_AT + 2 * HOUR).fired == [(clock.id, "breach"), (clock.id, "escalation:1")]
    assert _tick(settings, db, OPENED_AT + 2 * HOUR).fired == []
    later = _tick(settings, db, OPENED_AT + 3 * HOUR)
    assert later.fired == [(clock.id, "escalation:2"), (clock.id, "escalation:3")]
    assert _tick(settings, db, OPENED_AT + 30 * HOUR).fired == []
    with db.read() as session:
        events = session.execute(select(SlaEvent.event, SlaEvent.issue_id, SlaEvent.recipients)
                                 .order_by(SlaEvent.id)).all()
        alerts = list(session.scalars(select(Alert).order_by(Alert.id)))
        runtime = services_for(settings).workflow(session, acme.id)
    on_call = runtime.on_call(runtime.teams["crisis"], OPENED_AT + 3 * HOUR)
    assert [tuple(row) for row in events] == [
        ("warning", issue_id, [f"email:{OWEN}"]),
        ("breach", issue_id, []),
        ("escalation:1", issue_id, [f"email:{OWEN}"]),
        ("escalation:2", issue_id, [f"email:{EXA}"]),  # team_lead: the executive sponsor
        ("escalation:3", issue_id, [f"email:{on_call}", "crisis"]),
    ]
    subjects = [(alert.target, alert.kind, alert.subject) for alert in alerts]
    assert subjects == [
        (f"email:{OWEN}", "sla_warning", "Issue 1 'Latch battery drain': acknowledgement goal of 2h due in 1h"),
        (f"email:{OWEN}", "escalation", "Issue 1 'Latch battery drain': acknowledgement goal of 2h missed "
                                        "(escalation 1)"),
        (f"email:{EXA}", "escalation", "Issue 1 'Latch battery drain': acknowledgement goal of 2h missed, "
                                       "overdue by 1h (escalation 2)"),
        (f"email:{on_call}", "escalation", "Issue 1 'Latch battery drain': acknowledgement goal of 2h missed, "
                                           "overdue by 1h (escalation 3)"),
        ("crisis", "escalation", "Issue 1 'Latch battery drain': acknowledgement goal of 2h missed, "
                                 "overdue by 1h (escalation 3)"),
    ]
    assert alerts[0].link == f"{settings.base_url.rstrip('/')}/w/acme/issues/{issue_id}"
    assert alerts[0].payload["issue_id"] == issue_id and alerts[0].mention_id is None


def test_a_stage_left_in_time_fires_nothing_more(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: IssueCast) -> None:
    issue_id = open_test_issue(db, settings, acme, stakeholders=())
    assert len(_tick(settings, db, OPENED_AT + HOUR).fired) == 1
    call(db, settings, acme, "move_stage", issue_id=issue_id, target="discovery", override_reason="known",
         now=OPENED_AT + 1.5 * HOUR)
    assert _tick(settings, db, OPENED_AT + 5 * HOUR).fired == []
    # Discovery's own clock warns at its 1bd mark (Saturday 16:00: Friday 16:30 lands after Saturday's hours)
    # and, with no executive sponsor, escalation 2 goes to the owner.
    discovery = stage_clocks(db, issue_id)[-1]
    assert discovery.warn_at == london(2026, 11, 14, 16)
    assert _tick(settings, db, london(2026, 11, 14, 16)).fired == [(discovery.id, "warning")]
    _tick(settings, db, london(2026, 11, 16, 17))
    with db.read() as session:
        recipients = dict(session.execute(select(SlaEvent.event, SlaEvent.recipients).where(
            SlaEvent.clock_id == discovery.id)).all())
        subject = session.scalar(select(Alert.subject).where(Alert.dedupe_key == f"sla:{discovery.id}:breach"))
    assert recipients["escalation:2"] == [f"email:{OWEN}"]
    assert subject is None  # the breach itself tells nobody: escalation 1 does, a moment later
    with db.read() as session:
        assert session.scalar(select(Alert.subject).where(Alert.dedupe_key == f"sla:{discovery.id}:escalation:1")) == (
            "Issue 1 'Latch battery drain': discovery goal of 2 business days missed, overdue by 30m (escalation 1)")
