"""What people do to work items (issue 4): the state machine, clocks that follow it, permissions and the audit.

Work items are made the real way (ingest, then the pipeline); actions run in a write transaction with
the workspace's compiled playbook, as the API and the CLI call them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from firebreak.workflow import actions
from firebreak.workflow.actions import TRANSITIONS, Actor
from firebreak.workflow.models import WorkItem
from firebreak.workflow.queries import QueueFilter, list_queue, work_detail
from tests.workflow_support import (
    TUESDAY_MORNING,
    Cast,
    actor,
    add_cast,
    clocks_of,
    ingest_at,
    london,
    mention_id,
    post,
    run_pipeline,
    services_for,
    work_item,
)

T = TUESDAY_MORNING  # Tuesday 10:00 London: the care team is on shift
LEGAL_THREAT = "I'm talking to my lawyer, see you in court"
PRAISE = "Thank you for the amazing service today!"


@pytest.fixture
def cast(db, acme, globex) -> Cast:
    return add_cast(db, acme, globex)


def opened(db, settings, ws, external_id: str, text: str, *, at: datetime = T) -> int:
    """A mention received at `at` and run through the pipeline; returns its mention id."""
    ingest_at(db, ws, [post(external_id, text, at=at)], received_at=at)
    run_pipeline(db, settings, now=at)
    return mention_id(db, ws, external_id)


def act(db, settings, ws, action: Callable[..., WorkItem], mention: int, who: Actor, *, at: datetime,
        **fields: Any) -> WorkItem:
    """Run `action` (assign or change_state) in its own write transaction, as the API does."""
    with db.write() as session:
        runtime = services_for(settings).workflows.for_workspace(session, ws.id)
        item = action(session, runtime=runtime, workspace_id=ws.id, mention_id=mention, actor=who, now=at, **fields)
        session.flush()
        session.expunge(item)
    return item


def detail(db, settings, ws, mention: int, *, at: datetime) -> dict[str, Any]:
    with db.read() as session:
        runtime = services_for(settings).workflows.for_workspace(session, ws.id)
        return work_detail(session, runtime=runtime, workspace_id=ws.id, mention_id=mention, now=at)


def move(db, settings, ws, mention: int, who: Actor, to: str, *, at: datetime, reason: str | None = None,
         **fields: Any) -> WorkItem:
    return act(db, settings, ws, actions.change_state, mention, who, at=at, to_state=to, reason=reason, **fields)


def give(db, settings, ws, mention: int, who: Actor, email: str | None, *, at: datetime,
         reason: str | None = None, **fields: Any) -> WorkItem:
    return act(db, settings, ws, actions.assign, mention, who, at=at, assignee_email=email, reason=reason, **fields)


def test_the_state_machine_follows_the_documented_moves(db, settings, acme, cast):
    ana, lee = actor(db, acme, "ana@acme.test"), actor(db, acme, "lee@acme.test")
    m = opened(db, settings, acme, "1", PRAISE)
    assert (work_item(db, acme, "1").state, work_item(db, acme, "1").assignee_id) == ("assigned", cast.ana)

    steps = [(ana, "responded"), (ana, "waiting"), (ana, "assigned"), (ana, "responded"), (ana, "resolved"),
             (lee, "closed"), (lee, "assigned"), (ana, "resolved")]
    for minute, (who, to) in enumerate(steps, 1):
        item = move(db, settings, acme, m, who, to, at=T + timedelta(minutes=minute), reason=f"step {minute}")
        assert item.state == to
    assert item.revision == 1 + len(steps)

    trail = [(e["actor"], e["details"]["from"], e["details"]["to"], e["details"]["reason"])
             for e in detail(db, settings, acme, m, at=T + timedelta(hours=1))["audit"]
             if e["action"] == "work.state_changed"]
    assert trail[:2] == [("ana@acme.test", "assigned", "responded", "step 1"),
                         ("ana@acme.test", "responded", "waiting", "step 2")]
    assert trail[5] == ("lee@acme.test", "resolved", "closed", "step 6")
    assert len(trail) == len(steps)


@pytest.mark.parametrize(("start", "to"), [("assigned", "new"), ("assigned", "assigned"), ("resolved", "waiting"),
                                           ("closed", "responded")])
def test_a_move_the_state_machine_lacks_is_refused_naming_the_allowed_ones(db, settings, acme, cast, start, to):
    lee = actor(db, acme, "lee@acme.test")
    m = opened(db, settings, acme, "1", PRAISE)
    if start != "assigned":
        move(db, settings, acme, m, lee, start, at=T + timedelta(minutes=1), reason="done")
    with pytest.raises(InvalidInput) as refused:
        move(db, settings, acme, m, lee, to, at=T + timedelta(minutes=2))
    allowed = ", ".join(sorted(t for (f, t) in TRANSITIONS if f == start))
    assert refused.value.field == "state"
    assert refused.value.message == (f"mention {m} cannot go from {start} to {to}; from {start} it can go to {allowed}")
    assert work_item(db, acme, "1").state == start


def test_an_unknown_state_or_mention_is_refused(db, settings, acme, cast):
    lee = actor(db, acme, "lee@acme.test")
    m = opened(db, settings, acme, "1", PRAISE)
    with pytest.raises(InvalidInput, match="unknown state 'done'; states are new, assigned, responded"):
        move(db, settings, acme, m, lee, "done", at=T)
    with pytest.raises(NotFound, match=f"mention {m + 99} has no work item in this workspace"):
        move(db, settings, acme, m + 99, lee, "resolved", at=T)


def test_waiting_pauses_the_clocks_and_resuming_moves_the_deadline_by_the_paused_time(db, settings, acme, cast):
    ana = actor(db, acme, "ana@acme.test")
    m = opened(db, settings, acme, "1", LEGAL_THREAT)
    dan = actor(db, acme, "dan@acme.test")
    give(db, settings, acme, m, dan, "dan@acme.test", at=T)
    resolution_due = clocks_of(db, m)["resolution"].due_at
    assert resolution_due == T + timedelta(hours=8)

    move(db, settings, acme, m, dan, "responded", at=T + timedelta(minutes=2))
    waiting = move(db, settings, acme, m, dan, "waiting", at=T + timedelta(hours=1), reason="asked for the order")
    assert waiting.waiting_since == T + timedelta(hours=1) and waiting.sla_due_at is None
    paused = clocks_of(db, m)["resolution"]
    assert (paused.state, paused.consumed_seconds, paused.due_at, paused.next_fire_at) == ("paused", 3600.0, None, None)

    resumed = move(db, settings, acme, m, dan, "assigned", at=T + timedelta(hours=3), reason="customer replied")
    clock = clocks_of(db, m)["resolution"]
    assert clock.state == "running"
    assert clock.due_at == resolution_due + timedelta(hours=2) == resumed.sla_due_at
    assert clock.warn_at == T + timedelta(hours=8)  # 6h (75%) of the 8h: 1h before, 5h after the pause
    assert resumed.waiting_since is None
    with pytest.raises(Forbidden, match=r"ana@acme.test \(agent\) may not move a mention from assigned to closed"):
        move(db, settings, acme, m, ana, "closed", at=T + timedelta(hours=3), reason="spam")


def test_waiting_on_a_business_calendar_moves_the_deadline_by_business_time(db, settings, acme, cast):
    ana = actor(db, acme, "ana@acme.test")
    m = opened(db, settings, acme, "1", "hello? is anyone there?")
    assert clocks_of(db, m)["first_response"].due_at == london(2026, 11, 10, 11, 0)

    move(db, settings, acme, m, ana, "waiting", at=london(2026, 11, 10, 10, 30), reason="asked which store")
    # Resumed ten minutes before Tuesday's 20:00 close: 30 business minutes left, 10 today and 20 from
    # Wednesday's 08:00 opening.
    move(db, settings, acme, m, ana, "assigned", at=london(2026, 11, 10, 19, 50), reason="customer replied")
    clock = clocks_of(db, m)["first_response"]
    assert (clock.consumed_seconds, clock.due_at) == (1800.0, london(2026, 11, 11, 8, 20))
    assert clock.warn_at == london(2026, 11, 11, 8, 5)
    seen = detail(db, settings, acme, m, at=london(2026, 11, 11, 8, 0))["clocks"][0]
    assert (seen["used_seconds"], seen["remaining_seconds"], seen["breached"]) == (2400.0, 1200.0, False)


def test_resolving_meets_every_clock_and_times_the_answers(db, settings, acme, cast):
    m = opened(db, settings, acme, "1", LEGAL_THREAT)
    cris = actor(db, acme, "cris@acme.test")
    move(db, settings, acme, m, cris, "responded", at=T + timedelta(minutes=4))
    resolved = move(db, settings, acme, m, cris, "resolved", at=T + timedelta(hours=2), reason="apologised, refunded")
    assert resolved.resolved_at == T + timedelta(hours=2) and resolved.sla_due_at is None

    clocks = clocks_of(db, m)
    assert {metric: c.state for metric, c in clocks.items()} == {"first_response": "met", "resolution": "met"}
    assert clocks["first_response"].consumed_seconds == 240.0
    assert clocks["resolution"].consumed_seconds == 7200.0
    assert all(c.next_fire_at is None for c in clocks.values())

    shown = detail(db, settings, acme, m, at=T + timedelta(hours=9))
    assert (shown["first_response_seconds"], shown["resolution_seconds"]) == (240.0, 7200.0)
    assert [c["breached"] for c in shown["clocks"]] == [False, False]
    assert [c["used_seconds"] for c in shown["clocks"]] == [240.0, 7200.0]
    assert shown["assessment"]["path"][0]["node"] == "red_flags" and shown["recommended_action"] == "escalate"


def test_closing_an_unanswered_item_needs_a_reason_and_cancels_its_clocks(db, settings, acme, cast):
    lee = actor(db, acme, "lee@acme.test")
    m = opened(db, settings, acme, "1", PRAISE)
    with pytest.raises(InvalidInput, match="closing a mention that was never answered needs a reason") as refused:
        move(db, settings, acme, m, lee, "closed", at=T + timedelta(minutes=5))
    assert refused.value.field == "reason"
    closed = move(db, settings, acme, m, lee, "closed", at=T + timedelta(minutes=5), reason="duplicate of #2")
    assert closed.closed_at == T + timedelta(minutes=5)
    assert clocks_of(db, m)["first_response"].state == "cancelled"
    last = detail(db, settings, acme, m, at=T + timedelta(minutes=6))["audit"][-1]
    assert (last["actor"], last["details"]["reason"]) == ("lee@acme.test", "duplicate of #2")


def test_who_may_assign_whom(db, settings, acme, cast):
    ana, lee = actor(db, acme, "ana@acme.test"), actor(db, acme, "lee@acme.test")
    held = opened(db, settings, acme, "1", PRAISE, at=london(2026, 11, 10, 21, 0))  # after hours: unassigned
    assert work_item(db, acme, "1").state == "new"

    with pytest.raises(Forbidden, match=r"ana@acme.test \(agent\) may not assign mentions to others: it needs "
                                        r"the 'assign' permission"):
        give(db, settings, acme, held, ana, "lee@acme.test", at=T)
    taken = give(db, settings, acme, held, ana, "ana@acme.test", at=T, reason="mine")
    assert (taken.state, taken.assignee_id, taken.assigned_at) == ("assigned", cast.ana, T)
    handed_back = give(db, settings, acme, held, ana, None, at=T + timedelta(minutes=1), reason="off shift")
    assert (handed_back.state, handed_back.assignee_id) == ("new", None)

    with pytest.raises(InvalidInput, match=r"lex@acme.test \(legal\) cannot take work in queue 'care_general': "
                                           r"it needs one of the roles agent, lead") as no_role:
        give(db, settings, acme, held, lee, "lex@acme.test", at=T)
    assert no_role.value.field == "assignee"
    with pytest.raises(InvalidInput, match="gus@globex.test is not a member of this workspace"):
        give(db, settings, acme, held, lee, "gus@globex.test", at=T)
    with pytest.raises(InvalidInput, match="no user with e-mail 'nobody@acme.test'"):
        give(db, settings, acme, held, lee, "nobody@acme.test", at=T)
    outsider = actor(db, acme, "gus@globex.test")
    assert outsider.roles == frozenset()
    with pytest.raises(Forbidden, match=r"gus@globex.test \(no role\) may not"):
        give(db, settings, acme, held, outsider, "gus@globex.test", at=T)

    given = give(db, settings, acme, held, lee, "ana@acme.test", at=T + timedelta(minutes=2), reason="her turn")
    assert given.assignee_id == cast.ana
    audit = [e for e in detail(db, settings, acme, held, at=T + timedelta(minutes=3))["audit"]
             if e["action"] == "work.assigned"]
    assert [(e["actor"], e["details"]["to_email"], e["details"]["reason"]) for e in audit] == [
        ("ana@acme.test", "ana@acme.test", "mine"), ("ana@acme.test", None, "off shift"),
        ("lee@acme.test", "ana@acme.test", "her turn")]
    assert [e["at"] for e in audit] == [T, T + timedelta(minutes=1), T + timedelta(minutes=2)]


def test_a_legal_reviewer_may_not_move_care_work(db, settings, acme, cast):
    m = opened(db, settings, acme, "1", PRAISE)
    with pytest.raises(Forbidden, match=r"lex@acme.test \(legal\) may not move a mention from assigned to resolved: "
                                        r"it needs the 'resolve' permission"):
        move(db, settings, acme, m, actor(db, acme, "lex@acme.test"), "resolved", at=T)


def test_a_stale_revision_is_refused(db, settings, acme, cast):
    ana = actor(db, acme, "ana@acme.test")
    m = opened(db, settings, acme, "1", PRAISE)
    loaded = work_item(db, acme, "1").revision
    move(db, settings, acme, m, ana, "responded", at=T + timedelta(minutes=1), expected_revision=loaded)
    with pytest.raises(Conflict, match=rf"changed since you loaded it \(revision {loaded + 1}, you had {loaded}\)"):
        move(db, settings, acme, m, ana, "resolved", at=T + timedelta(minutes=2), expected_revision=loaded)
    with pytest.raises(Conflict, match="changed since you loaded it"):
        give(db, settings, acme, m, ana, "ana@acme.test", at=T + timedelta(minutes=2), expected_revision=loaded)
    assert work_item(db, acme, "1").state == "responded"


def test_the_queue_lists_the_most_urgent_work_first(db, settings, acme, cast):
    ingest_at(db, acme, [post("1", PRAISE, at=T), post("2", LEGAL_THREAT, at=T),
                         post("3", "you are a joke", at=T, author={"handle": "grr", "tags": ["troll"]})],
              received_at=T)
    ingest_at(db, acme, [post("4", PRAISE, at=T - timedelta(hours=2))], received_at=T - timedelta(hours=2))
    run_pipeline(db, settings, now=T)
    with db.read() as session:
        rows = list_queue(session, workspace_id=acme.id, where=QueueFilter(), now=T + timedelta(minutes=1))
        care = list_queue(session, workspace_id=acme.id, where=QueueFilter(queue="escalations"), now=T)
        with pytest.raises(InvalidInput, match="limit must be between 1 and 500"):
            list_queue(session, workspace_id=acme.id, where=QueueFilter(), limit=0, now=T)
    # Overdue first (the praise received two hours ago), then the red flag due in 4 minutes, then the
    # praise due in an hour; the troll, with no clock, last.
    assert [r["mention_id"] for r in rows] == [mention_id(db, acme, e) for e in ("4", "2", "1", "3")]
    assert rows[0]["overdue"] and rows[1]["sla_seconds_left"] == 240.0
    assert rows[3]["sla_due_at"] is None
    assert [r["flag"] for r in care] == ["red"]


def test_the_customer_replying_brings_a_waiting_item_back_with_its_clocks_running(db, settings, acme, cast):
    dan = actor(db, acme, "dan@acme.test")
    author = {"handle": "pat"}
    ingest_at(db, acme, [post("w1", LEGAL_THREAT, at=T, author=author)], received_at=T)
    run_pipeline(db, settings, now=T)
    m = mention_id(db, acme, "w1")
    give(db, settings, acme, m, dan, "dan@acme.test", at=T)
    move(db, settings, acme, m, dan, "responded", at=T + timedelta(minutes=2))
    move(db, settings, acme, m, dan, "waiting", at=T + timedelta(hours=1), reason="asked for the order number")

    later = T + timedelta(hours=3)
    ingest_at(db, acme, [post("w2", "here it is: order 5512", at=later, author=author, reply_to="w1")],
              received_at=later)
    run_pipeline(db, settings, now=later)
    item = work_item(db, acme, "w1")
    assert (item.state, item.waiting_since) == ("assigned", None)
    resolution = clocks_of(db, m)["resolution"]
    assert resolution.state == "running"
    assert resolution.due_at == T + timedelta(hours=10) == item.sla_due_at  # 8h goal + 2h waited
    trail = detail(db, settings, acme, m, at=later)["audit"]
    assert trail[-1]["action"] == "work.customer_replied" and trail[-1]["actor"] == "workflow"
