"""The SLA scheduler (issue 4): every due warning, breach and escalation fires exactly once, to the right people.

Deadlines are rows; a FixedClock moved forward by the test plays the wall clock. Crashes are real: a
tick raising inside its transaction, and a tick process killed with SIGKILL mid-transaction.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from firebreak.core.clock import FixedClock
from firebreak.notify import outbox
from firebreak.notify.models import Alert
from firebreak.services import Services
from firebreak.workflow import actions
from firebreak.workflow import scheduler as scheduler_module
from firebreak.workflow.models import SlaClock, SlaEvent
from firebreak.workflow.scheduler import SlaScheduler, TickReport
from tests.notify_support import smtp_receiver
from tests.workflow_support import (
    TUESDAY_MORNING,
    actor,
    add_cast,
    alerts_of,
    clocks_of,
    count,
    ingest_at,
    mention_id,
    playbook_text,
    post,
    run_pipeline,
    services_for,
    sla_events,
    use_playbook,
)

ROOT = Path(__file__).resolve().parents[1]
T = TUESDAY_MORNING
LEGAL_THREAT = "I'm talking to my lawyer, see you in court"
PRAISE = "Thank you for the amazing service today!"


class Ticker:
    """A scheduler on a clock the test moves."""

    def __init__(self, settings, db, *, batch_size: int = 500) -> None:
        self.clock = FixedClock(T)
        self.db = db
        self.scheduler = SlaScheduler(services_for(settings).workflows, public_url=settings.base_url,
                                      clock=self.clock, batch_size=batch_size)

    def at(self, moment: datetime) -> TickReport:
        self.clock = FixedClock(moment)
        self.scheduler.clock = self.clock
        return self.scheduler.tick(self.db)


def red_item(db, settings, ws, external_id: str = "1", *, assignee: str | None = "ana@acme.test") -> int:
    """A red legal threat received at T, assigned to `assignee` by the crisis lead."""
    ingest_at(db, ws, [post(external_id, LEGAL_THREAT, at=T)], received_at=T)
    run_pipeline(db, settings, now=T)
    m = mention_id(db, ws, external_id)
    if assignee is not None:
        with db.write() as session:
            actions.assign(session, runtime=services_for(settings).workflows.for_workspace(session, ws.id),
                           workspace_id=ws.id, mention_id=m, assignee_email=assignee,
                           actor=actor(db, ws, "cris@acme.test"), reason="hers", now=T)
    return m


def fired(report: TickReport, db) -> list[tuple[str, str]]:
    """(metric, event) of what a tick fired."""
    with db.read() as session:
        metrics = dict(session.execute(select(SlaClock.id, SlaClock.metric)).all())
    return [(metrics[clock_id], event) for clock_id, event in report.fired]


def recipients(db) -> dict[str, list[str]]:
    with db.read() as session:
        return {event: sorted(r) for event, r in session.execute(
            select(SlaEvent.event, SlaEvent.recipients).order_by(SlaEvent.id))}


def test_a_red_item_warns_breaches_and_escalates_each_exactly_once(db, acme, globex, settings):
    add_cast(db, acme, globex)
    use_playbook(db, acme, playbook_text())
    m = red_item(db, settings, acme)
    ticker = Ticker(settings, db)

    early = ticker.at(T + timedelta(minutes=3))
    assert early.fired == [] and early.next_due == T + timedelta(minutes=3, seconds=45)
    timeline = [
        (T + timedelta(minutes=3, seconds=45), [("first_response", "warning")]),  # 75% of 5 minutes
        (T + timedelta(minutes=5), [("first_response", "breach"), ("first_response", "escalation:1")]),
        (T + timedelta(minutes=19), []),
        (T + timedelta(minutes=20), [("first_response", "escalation:2")]),
        (T + timedelta(minutes=35), [("first_response", "escalation:3")]),
    ]
    for moment, expected in timeline:
        assert fired(ticker.at(moment), db) == expected, moment
        assert ticker.at(moment).fired == []  # a second tick at the same moment fires nothing
    last = ticker.at(T + timedelta(hours=1))
    assert last.fired == [] and last.next_due == T + timedelta(hours=6)  # the resolution clock's warning

    assert recipients(db) == {
        "warning": ["email:ana@acme.test"],
        "breach": [],  # the first escalation level, at +0, tells the assignee
        "escalation:1": ["email:ana@acme.test"],
        "escalation:2": ["email:cris@acme.test"],  # the crisis desk's lead
        "escalation:3": ["crisis", "email:eve@acme.test"],  # on call this week (see the rota test in intake)
    }
    sla = [(a.kind, a.target) for a in alerts_of(db, mention=m) if a.kind != "red_flag"]
    assert sla == [("sla_warning", "email:ana@acme.test"), ("escalation", "email:ana@acme.test"),
                   ("escalation", "email:cris@acme.test"), ("escalation", "email:eve@acme.test"),
                   ("escalation", "crisis")]
    warning = alerts_of(db, kind="sla_warning")[0]
    assert warning.subject == "SLA warning: first response due in 1m"
    assert "assigned to: ana@acme.test" in warning.body and warning.link and warning.link.endswith(f"/mentions/{m}")
    clock = clocks_of(db, m)["first_response"]
    assert (clock.breached_at, clock.escalation_level, clock.next_event) == (T + timedelta(minutes=5), 3, None)

    # Much later, the resolution clock has its turn, once.
    assert fired(ticker.at(T + timedelta(hours=9)), db) == [
        ("resolution", "warning"), ("resolution", "breach"), ("resolution", "escalation:1"),
        ("resolution", "escalation:2"), ("resolution", "escalation:3")]
    assert count(db, SlaEvent) == 10


def test_an_unassigned_items_warning_goes_to_the_team_leads(db, acme, globex, settings):
    add_cast(db, acme, globex)
    ingest_at(db, acme, [post("1", PRAISE, at=T)], received_at=T)
    run_pipeline(db, settings, now=T)
    with db.write() as session:
        runtime = services_for(settings).workflows.for_workspace(session, acme.id)
        actions.assign(session, runtime=runtime, workspace_id=acme.id, mention_id=mention_id(db, acme, "1"),
                       assignee_email=None, actor=actor(db, acme, "lee@acme.test"), reason="back to queue", now=T)
    Ticker(settings, db).at(T + timedelta(minutes=45))
    assert recipients(db) == {"warning": ["email:lee@acme.test"]}


def test_met_and_paused_clocks_fire_nothing(db, acme, globex, settings):
    add_cast(db, acme, globex)
    answered, waiting = red_item(db, settings, acme, "1"), red_item(db, settings, acme, "2")
    ana = actor(db, acme, "ana@acme.test")
    with db.write() as session:
        runtime = services_for(settings).workflows.for_workspace(session, acme.id)
        actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=answered, to_state="resolved",
                             actor=ana, reason="answered by phone", now=T + timedelta(minutes=2))
        actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=waiting, to_state="waiting",
                             actor=ana, reason="asked for the order", now=T + timedelta(minutes=2))

    report = Ticker(settings, db).at(T + timedelta(days=3))
    assert report.fired == [] and report.next_due is None
    assert count(db, SlaEvent) == 0 and alerts_of(db, kind="escalation") == []
    assert {c.state for c in clocks_of(db, waiting).values()} == {"paused"}


def test_a_clock_left_behind_by_an_older_playbook_still_fires_and_blocks_nobody(db, acme, globex, settings):
    add_cast(db, acme, globex)
    stale, fresh = red_item(db, settings, acme, "1"), red_item(db, settings, acme, "2")
    with db.write() as session:  # started under a playbook with a calendar and a fourth level since dropped
        session.execute(update(SlaClock).where(SlaClock.mention_id == stale).values(
            calendar="retired_hours", next_event="escalation:4", breached_at=T, escalation_level=3))
    report = Ticker(settings, db).at(T + timedelta(hours=1))
    assert ("escalation:4" in {event for _, event in fired(report, db)}) and count(db, SlaEvent) == 6
    assert clocks_of(db, fresh)["first_response"].escalation_level == 3


def test_a_tick_that_fails_before_commit_leaves_nothing_and_the_next_fires_everything_once(
        db, acme, globex, settings, monkeypatch):
    add_cast(db, acme, globex)
    for n in range(1, 4):
        red_item(db, settings, acme, str(n))
    real_enqueue = outbox.enqueue
    calls = []

    def enqueue_once_broken(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the database went away mid-tick")
        return real_enqueue(**kwargs)

    monkeypatch.setattr(scheduler_module.outbox, "enqueue", enqueue_once_broken)
    ticker = Ticker(settings, db, batch_size=4)
    with pytest.raises(ConnectionError):
        ticker.at(T + timedelta(minutes=40))
    assert count(db, SlaEvent) == 0 and alerts_of(db, kind="escalation") == []

    report = ticker.at(T + timedelta(minutes=40))
    events = sla_events(db)
    # Three items: warning, breach and three escalations of each first-response clock, each once.
    assert len(report.fired) == len(events) == len(set(events)) == 15
    assert len(alerts_of(db, kind="escalation")) == 3 * 4  # ana, cris, eve and crisis per item
    assert ticker.at(T + timedelta(minutes=40)).fired == []


def test_a_tick_killed_mid_transaction_fires_nothing_and_the_next_fires_everything_once(
        db, acme, globex, settings, database_url, tmp_path):
    add_cast(db, acme, globex)
    use_playbook(db, acme, playbook_text())
    red_item(db, settings, acme, "1")
    red_item(db, settings, acme, "2")
    now = T + timedelta(minutes=40)
    tick = subprocess.Popen([sys.executable, "-m", "tests.workflow_support", database_url, str(tmp_path),
                             now.isoformat()], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, tick.kill)  # a tick that never gets inside must not hang the suite
    watchdog.start()
    try:
        assert tick.stdout is not None
        line = tick.stdout.readline()
        assert line.startswith("inside "), (line, tick.stderr.read() if tick.stderr else "")
        tick.send_signal(signal.SIGKILL)
        assert tick.wait(10) == -signal.SIGKILL
    finally:
        watchdog.cancel()
        tick.kill()
        tick.wait()
    assert count(db, SlaEvent) == 0

    report = Ticker(settings, db).at(now)
    assert len(report.fired) == count(db, SlaEvent) == 10
    assert Ticker(settings, db).at(now).fired == []


def test_two_schedulers_ticking_at_once_never_fire_an_event_twice(db, acme, globex, settings):
    add_cast(db, acme, globex)
    ingest_at(db, acme, [post(str(n), LEGAL_THREAT, at=T) for n in range(1, 41)], received_at=T)
    run_pipeline(db, settings, now=T)
    now = T + timedelta(minutes=40)
    start = threading.Barrier(2)
    reports: list[TickReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        ticker = Ticker(settings, db, batch_size=7)
        ticker.scheduler.clock = FixedClock(now)
        start.wait()
        try:
            reports.append(ticker.scheduler.tick(db))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    first, second = (set(report.fired) for report in reports)
    assert not first & second
    if db.engine.dialect.name == "postgresql":  # SQLite's one writer may let one thread do it all
        assert first and second, "both schedulers should have taken clocks"
    assert len(first | second) == count(db, SlaEvent) == 40 * 5
    with db.read() as session:
        keys = list(session.scalars(select(Alert.dedupe_key).where(Alert.kind != "red_flag")))
    assert len(keys) == 40 * 5 and len(set(keys)) == 40 * 4  # escalation:3 goes to the on-call person and crisis


def test_a_breach_is_emailed_to_the_assignee(db, acme, globex, settings):
    add_cast(db, acme, globex)
    m = red_item(db, settings, acme)
    with smtp_receiver() as smtp:
        mail_settings = settings.model_copy(
            update={"alert_email_url": f"mailto://127.0.0.1:{smtp.port}?from=firebreak@acme.test"})
        services = Services(mail_settings)
        SlaScheduler(services.workflows, public_url=mail_settings.base_url,
                     clock=FixedClock(T + timedelta(minutes=5))).tick(db)
        with db.write() as session:  # the red flag went to the crisis target; only the e-mail matters here
            session.execute(delete(Alert).where(Alert.kind == "red_flag"))
        report = services.dispatcher(db).deliver_due(db)
        assert report.errors == [] and report.sent == 2  # the warning and the first escalation, in one message
        (mail,) = smtp.wait_for(1)
    assert mail.rcpt_tos == ["ana@acme.test"]
    # The scheduler was late for the warning (it ticked at the deadline), so both go out together.
    assert mail.subject == ("2 alerts: SLA warning: first response due now; "
                            "SLA breached: first response goal of 5m missed (escalation 1)")
    assert mail.text.count(LEGAL_THREAT) == 2 and f"/mentions/{m}" in mail.text
    assert "assigned to: ana@acme.test" in mail.text
