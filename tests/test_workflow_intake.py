"""Intake through the real pipeline (issue 4): assess, route, assign, start SLA clocks, alert, on both databases.

Each test ingests mentions, drains them through every built-in stage (normalise, language, triage with
the workspace's playbook, workflow) and reads what the workflow stored.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from firebreak.audit.models import AuditEntry
from firebreak.mentions.models import Mention
from firebreak.notify.models import Alert
from firebreak.services import Services, build_pipeline
from firebreak.worker import BackgroundWorker
from firebreak.workflow.models import SlaClock, WorkItem
from tests.factories import ingest, mention
from tests.notify_support import webhook_receiver
from tests.workflow_support import (
    FRIDAY_EVENING,
    SATURDAY_EVENING,
    TUESDAY_MORNING,
    TUESDAY_NIGHT,
    add_cast,
    add_member,
    alerts_of,
    clocks_of,
    count,
    ingest_at,
    london,
    mention_id,
    playbook_text,
    post,
    run_pipeline,
    set_team_availability,
    use_playbook,
    work_item,
)

LEGAL_THREAT = "I'm talking to my lawyer, see you in court"
PRAISE = "Thank you for the amazing service today!"


def _trail(db, mention: int) -> list[AuditEntry]:
    with db.read() as session:
        rows = list(session.scalars(select(AuditEntry).where(
            AuditEntry.subject_type == "mention", AuditEntry.subject_id == str(mention)).order_by(AuditEntry.id)))
        session.expunge_all()
    return rows


def test_a_red_legal_threat_is_escalated_with_a_five_minute_clock_and_red_flag_alerts(db, acme, globex, settings):
    add_cast(db, acme, globex)
    use_playbook(db, acme, playbook_text())
    ingest(db, acme, [mention("1", LEGAL_THREAT)])

    assert BackgroundWorker(db, build_pipeline(settings)).drain() == 1

    item = work_item(db, acme, "1")
    assert (item.queue, item.team, item.priority) == ("escalations", "crisis", "urgent")
    assert item.route_rule == "red_to_crisis"
    assert (item.action, item.outcome, item.needs_response) == ("escalate", "escalate", True)
    path = item.assessment["path"]
    assert path[0]["node"] == "red_flags" and path[0]["next"] == "escalate"
    assert item.assessment["next_step"].startswith("Alert the owning team")
    assert item.state == "assigned"  # the crisis desk is open around the clock

    with db.read() as session:
        received = session.scalar(select(Mention.received_at).where(Mention.id == item.mention_id))
    assert item.opened_at == received
    clocks = clocks_of(db, item.mention_id)
    assert set(clocks) == {"first_response", "resolution"}
    first, resolution = clocks["first_response"], clocks["resolution"]
    assert (first.policy, first.calendar, first.target_seconds, first.state) == ("red", "always", 300.0, "running")
    assert first.due_at == received + timedelta(minutes=5)
    assert first.warn_at == received + timedelta(minutes=3, seconds=45)
    assert (resolution.target_seconds, resolution.due_at) == (8 * 3600.0, received + timedelta(hours=8))
    assert item.sla_policy == "red" and item.sla_due_at == first.due_at

    red = alerts_of(db, kind="red_flag")
    assert sorted(a.target for a in red) == ["crisis", "legal_desk"]
    for alert in red:
        assert alert.mention_id == item.mention_id and alert.state == "pending"
        assert "matched 'my lawyer'" in alert.body
        assert "Recommended: Escalate to the owning team (escalate)" in alert.body
        assert alert.link and alert.link.endswith(f"/w/acme/mentions/{item.mention_id}")
        assert alert.payload["action"] == "escalate"
    opened = [e for e in _trail(db, item.mention_id) if e.action == "work.opened"]
    assert len(opened) == 1 and opened[0].actor == "workflow"
    assert opened[0].details["queue"] == "escalations" and "red flag" in opened[0].details["path"]


def test_with_the_default_playbook_red_flags_go_to_its_crisis_target(db, acme, settings):
    ingest(db, acme, [mention("1", LEGAL_THREAT)])
    BackgroundWorker(db, build_pipeline(settings)).drain()
    item = work_item(db, acme, "1")
    assert item.queue == "escalations" and item.state == "new"  # nobody is on the crisis desk yet
    assert [a.target for a in alerts_of(db, kind="red_flag")] == ["crisis"]


@pytest.mark.parametrize(("received", "warn", "due"), [
    # Saturday 19:30 is after Saturday's 10:00-16:00; Sunday is closed: the hour runs Monday from 08:00.
    (SATURDAY_EVENING, london(2026, 11, 16, 8, 45), london(2026, 11, 16, 9, 0)),
    # Friday 19:30: half an hour before Friday's close, the other half from Saturday's 10:00 opening.
    (FRIDAY_EVENING, london(2026, 11, 14, 10, 15), london(2026, 11, 14, 10, 30)),
    # Tuesday 10:00, open: one hour later.
    (TUESDAY_MORNING, london(2026, 11, 10, 10, 45), london(2026, 11, 10, 11, 0)),
])
def test_green_praise_is_thanked_within_one_business_hour(db, acme, globex, settings, received, warn, due):
    add_cast(db, acme, globex)
    ingest_at(db, acme, [post("1", PRAISE, at=received)], received_at=received)
    run_pipeline(db, settings, now=received)

    item = work_item(db, acme, "1")
    assert (item.queue, item.action, item.outcome, item.priority) == ("care_general", "thank", "thank", "normal")
    assert item.sla_policy == "green"
    (clock,) = clocks_of(db, item.mention_id).values()
    assert (clock.metric, clock.calendar, clock.target_seconds) == ("first_response", "support_hours", 3600.0)
    assert (clock.warn_at, clock.due_at) == (warn, due)


def test_outside_the_teams_hours_a_held_queue_leaves_work_unassigned(db, acme, globex, settings):
    cast = add_cast(db, acme, globex)
    ingest_at(db, acme, [post("1", PRAISE, at=SATURDAY_EVENING)], received_at=SATURDAY_EVENING)
    ingest_at(db, acme, [post("2", PRAISE, at=TUESDAY_MORNING)], received_at=TUESDAY_MORNING)
    run_pipeline(db, settings, now=TUESDAY_MORNING)
    run_pipeline(db, settings, now=SATURDAY_EVENING)

    held, given = work_item(db, acme, "1"), work_item(db, acme, "2")
    assert (held.state, held.assignee_id, held.assigned_at) == ("new", None, None)
    assert given.state == "assigned" and given.assignee_id in (cast.ana, cast.lee)
    assert given.assigned_at == TUESDAY_MORNING


def test_a_troll_is_monitored_without_a_clock(db, acme, globex, settings):
    add_cast(db, acme, globex)
    ingest_at(db, acme, [post("1", "your brand is a joke and so are you", at=TUESDAY_MORNING,
                              author={"handle": "grr", "tags": ["troll"]})], received_at=TUESDAY_MORNING)
    run_pipeline(db, settings, now=TUESDAY_MORNING)

    item = work_item(db, acme, "1")
    assert (item.action, item.outcome, item.needs_response) == ("monitor", "monitor", False)
    assert item.assessment["path"][-1]["answer"] == "a troll, the author is tagged troll"
    assert item.sla_policy is None and item.sla_due_at is None
    assert clocks_of(db, item.mention_id) == {}


@pytest.mark.parametrize("one_batch", [False, True], ids=["earlier-batches", "same-batch"])
def test_a_fourth_unanswered_post_in_a_thread_is_taken_private(db, acme, globex, settings, one_batch):
    add_cast(db, acme, globex)
    author = {"handle": "waiting_wendy"}
    thread = [post("100", "hello? is anyone there?", at=TUESDAY_MORNING, author=author)]
    thread += [post(f"10{n}", "hello? is anyone there?", at=TUESDAY_MORNING + timedelta(minutes=n), author=author,
                    reply_to="100") for n in (1, 2, 3)]
    if one_batch:
        ingest_at(db, acme, thread, received_at=TUESDAY_MORNING + timedelta(minutes=4))
    else:
        ingest_at(db, acme, thread[:3], received_at=TUESDAY_MORNING + timedelta(minutes=2))
        run_pipeline(db, settings, now=TUESDAY_MORNING + timedelta(minutes=2))
        ingest_at(db, acme, thread[3:], received_at=TUESDAY_MORNING + timedelta(minutes=4))
    run_pipeline(db, settings, now=TUESDAY_MORNING + timedelta(minutes=4))

    third, fourth = work_item(db, acme, "102"), work_item(db, acme, "103")
    assert third.action == "respond"  # two unanswered before it: still answered in the thread
    assert (fourth.action, fourth.outcome) == ("take_private", "catch_up_private")
    assert "3 or more unanswered replies" in fourth.assessment["path"][-1]["answer"]


def test_round_robin_shares_a_burst_equally_among_the_available_members(db, acme, settings):
    people = {name: add_member(db, acme, f"{name}@acme.test", ["agent"], teams=["care"])
              for name in ("ana", "bob", "cat", "dee")}
    set_team_availability(db, acme, people["dee"], "care", False)
    ingest_at(db, acme, [post(str(n), PRAISE, at=TUESDAY_MORNING) for n in range(1, 31)],
              received_at=TUESDAY_MORNING)
    # Batches of 7: each batch must carry on the turn where the last one left it.
    assert run_pipeline(db, settings, now=TUESDAY_MORNING, batch_size=7) == 30

    with db.read() as session:
        given = list(session.scalars(select(WorkItem.assignee_id).order_by(WorkItem.mention_id)))
    assert {person: given.count(uid) for person, uid in people.items()} == {"ana": 10, "bob": 10, "cat": 10, "dee": 0}
    assert given[:6] == [people["ana"], people["bob"], people["cat"]] * 2


def test_out_of_hours_the_crisis_queue_goes_to_the_on_call_person(db, acme, globex, settings):
    cast = add_cast(db, acme, globex)
    use_playbook(db, acme, playbook_text(crisis_calendar="support_hours"))
    ingest_at(db, acme, [post("1", LEGAL_THREAT, at=TUESDAY_NIGHT)], received_at=TUESDAY_NIGHT)
    ingest_at(db, acme, [post("2", LEGAL_THREAT, at=TUESDAY_MORNING)], received_at=TUESDAY_MORNING)
    run_pipeline(db, settings, now=TUESDAY_MORNING)
    run_pipeline(db, settings, now=TUESDAY_NIGHT)

    # The weekly rota hands over on Mondays at 09:00 London from 2026-01-05: Monday 9 November starts
    # shift 44 (308 days later), and 44 mod 3 = 2, the third person on the rota.
    night = work_item(db, acme, "1")
    assert (night.state, night.assignee_id) == ("assigned", cast.eve)
    # In office hours the desk shares work by load (cris, the lowest id, when all have none).
    assert work_item(db, acme, "2").assignee_id == cast.cris


def test_an_on_call_person_who_is_not_a_member_gets_nothing(db, acme, globex, settings):
    add_cast(db, acme, globex)
    use_playbook(db, acme, playbook_text(crisis_calendar="support_hours",
                                         rota=["nobody@acme.test", "gus@globex.test", "nobody@acme.test"]))
    ingest_at(db, acme, [post("1", LEGAL_THREAT, at=TUESDAY_NIGHT)], received_at=TUESDAY_NIGHT)
    run_pipeline(db, settings, now=TUESDAY_NIGHT)
    item = work_item(db, acme, "1")
    assert (item.state, item.assignee_id) == ("new", None)


@pytest.mark.parametrize("order", ["later-batch", "same-batch", "reply-first"])
def test_a_brand_reply_answers_the_customer(db, acme, globex, settings, order):
    add_cast(db, acme, globex)
    question = post("500", LEGAL_THREAT, at=TUESDAY_MORNING, author={"handle": "angry_al"})
    reply = post("501", "We are sorry to hear this. Could you DM us your order number?",
                 at=TUESDAY_MORNING + timedelta(minutes=2), direction="outbound", reply_to="500",
                 author={"handle": "acme", "tags": ["brand"]})
    if order == "same-batch":
        ingest_at(db, acme, [question, reply], received_at=TUESDAY_MORNING)
    else:
        # reply-first: the customer's post is held up (a slow feed, a retry) until after the answer went through.
        first, second = (question, reply) if order == "later-batch" else (reply, question)
        ingest_at(db, acme, [first], received_at=TUESDAY_MORNING)
        run_pipeline(db, settings, now=TUESDAY_MORNING)
        ingest_at(db, acme, [second], received_at=TUESDAY_MORNING)
    run_pipeline(db, settings, now=TUESDAY_MORNING + timedelta(minutes=3))

    item = work_item(db, acme, "500")
    assert item.state == "responded"
    assert item.first_response_at == item.last_response_at == TUESDAY_MORNING + timedelta(minutes=2)
    clocks = clocks_of(db, item.mention_id)
    first, resolution = clocks["first_response"], clocks["resolution"]
    assert (first.state, first.stopped_at, first.next_fire_at) == ("met", TUESDAY_MORNING + timedelta(minutes=2), None)
    assert first.consumed_seconds == 120.0
    assert resolution.state == "running" and resolution.next_fire_at is not None
    assert item.sla_due_at == resolution.due_at
    with db.read() as session:
        assert session.scalar(select(WorkItem).where(WorkItem.mention_id == mention_id(db, acme, "501"))) is None
    responded = [e for e in _trail(db, item.mention_id) if e.action == "work.responded"]
    assert len(responded) == 1 and responded[0].details["reply_mention_id"] == mention_id(db, acme, "501")

    # The reply processed again (a retry) changes nothing more.
    revision = item.revision
    with db.write() as session:
        session.execute(update(Mention).values(state="pending", next_attempt_at=TUESDAY_MORNING))
    run_pipeline(db, settings, now=TUESDAY_MORNING + timedelta(minutes=4))
    assert work_item(db, acme, "500").revision == revision
    assert len([e for e in _trail(db, item.mention_id) if e.action == "work.responded"]) == 1


def test_a_reply_posted_before_its_question_was_received_counts_as_immediate(db, acme, settings):
    ingest_at(db, acme, [post("1", LEGAL_THREAT, at=TUESDAY_MORNING - timedelta(minutes=10))],
              received_at=TUESDAY_MORNING)
    ingest_at(db, acme, [post("2", "On it, check your DMs", at=TUESDAY_MORNING - timedelta(minutes=5),
                              direction="outbound", reply_to="1")], received_at=TUESDAY_MORNING)
    run_pipeline(db, settings, now=TUESDAY_MORNING)
    item = work_item(db, acme, "1")
    assert item.first_response_at == item.opened_at == TUESDAY_MORNING
    assert clocks_of(db, item.mention_id)["first_response"].consumed_seconds == 0.0


def test_processing_mentions_again_duplicates_nothing(db, acme, globex, settings):
    add_cast(db, acme, globex)
    ingest_at(db, acme, [post("1", LEGAL_THREAT, at=TUESDAY_MORNING), post("2", PRAISE, at=TUESDAY_MORNING)],
              received_at=TUESDAY_MORNING)
    run_pipeline(db, settings, now=TUESDAY_MORNING)
    before = (count(db, WorkItem), count(db, SlaClock), count(db, Alert), work_item(db, acme, "1").revision)
    assert before[:3] == (2, 3, 1)  # two work items, three clocks (red: two), one red-flag alert

    with db.write() as session:
        session.execute(update(Mention).values(state="pending", next_attempt_at=TUESDAY_MORNING))
    assert run_pipeline(db, settings, now=TUESDAY_MORNING + timedelta(minutes=1)) == 2

    assert (count(db, WorkItem), count(db, SlaClock), count(db, Alert), work_item(db, acme, "1").revision) == before


def test_a_red_flag_reaches_the_crisis_webhook_with_reasons_action_and_link(db, acme, globex, settings):
    add_cast(db, acme, globex)
    with webhook_receiver() as hook:
        use_playbook(db, acme, playbook_text(alert_url=hook.json_url("/crisis"), legal_url=hook.json_url("/legal")))
        ingest(db, acme, [mention("1", LEGAL_THREAT)])
        BackgroundWorker(db, build_pipeline(settings)).drain()
        report = Services(settings).dispatcher(db).deliver_due(db)
        assert report.errors == [] and report.sent == 2
        received = {request.path: request.json for request in hook.wait_for(2)}
    assert set(received) == {"/crisis", "/legal"}
    message = received["/crisis"]
    m = mention_id(db, acme, "1")
    assert message["title"] == f"RED legal threat: {LEGAL_THREAT}"
    assert message["type"] == "failure"
    assert "Why: legal threat: matched 'my lawyer', 'see you in court'" in message["message"]
    assert "Recommended: Escalate to the owning team (escalate)" in message["message"]
    assert f"Open: http://127.0.0.1:8000/w/acme/mentions/{m}" in message["message"]
    assert {a.state for a in alerts_of(db, kind="red_flag")} == {"sent"}
