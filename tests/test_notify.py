"""The alert outbox: playbook section, enqueueing, and delivery through apprise to real loopback servers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import delete, select, update

from firebreak.audit.models import AuditEntry
from firebreak.core.clock import FixedClock
from firebreak.core.errors import InvalidInput
from firebreak.mentions.models import Mention
from firebreak.notify.delivery import AlertDispatcher, DeliveryReport
from firebreak.notify.message import AlertText, compose
from firebreak.notify.models import Alert
from firebreak.notify.outbox import AlertDraft, enqueue
from firebreak.notify.pacing import rate_limit_frees_at, retry_delay
from firebreak.notify.schema import ALERT_KINDS, AlertsConfig, RateLimit, TargetSpec
from tests.factories import T0, ingest, mention
from tests.notify_support import smtp_receiver, webhook_receiver

# --- the playbook section -------------------------------------------------------------------------------


def test_alerts_section_defaults_and_routing():
    config = AlertsConfig.model_validate({
        "targets": [
            {"id": "crisis_email", "label": "Crisis team inbox", "url_env": "FIREBREAK_ALERT_CRISIS_EMAIL",
             "rate_limit": {"count": 20, "per": "10m"}},
            {"id": "ops_hook", "url": "json://127.0.0.1:8080/hook", "kinds": ["sla_breach", "issue"]},
        ],
        "red_flag": ["crisis_email"],
    })
    crisis, ops = config.targets
    assert crisis.kinds == list(ALERT_KINDS)
    assert crisis.rate_limit == RateLimit(count=20, per=timedelta(minutes=10))
    assert ops.rate_limit == RateLimit(count=30, per=timedelta(minutes=10))
    assert config.targets_for("red_flag") == ["crisis_email"]  # red flags only where listed
    assert config.targets_for("sla_breach") == ["crisis_email", "ops_hook"]
    assert config.targets_for("sla_warning") == ["crisis_email"]
    assert config.by_id["ops_hook"] is ops


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"targets": [{"id": "a", "url": "json://h/x"}], "red_flag": ["b"]}, "red_flag names unknown alert targets: b"),
        ({"targets": [{"id": "a", "url": "json://h/x"}, {"id": "a", "url_env": "X"}]}, "repeated: a"),
        ({"targets": [{"id": "a", "url": "json://h/x", "url_env": "X"}]}, "exactly one of url"),
        ({"targets": [{"id": "a"}]}, "exactly one of url"),
        ({"targets": [{"id": "a", "url": "json://h", "rate_limit": {"count": 0}}]}, "greater than or equal to 1"),
        ({"targets": [{"id": "a", "url": "json://h", "rate_limit": {"count": -3}}]}, "greater than or equal to 1"),
        ({"targets": [{"id": "a", "url": "json://h", "rate_limit": {"per": "-5m"}}]}, "is negative"),
        ({"targets": [{"id": "a", "url": "json://h", "rate_limit": {"per": "0s"}}]}, "longer than zero"),
        ({"targets": [{"id": "a", "url": "json://h", "rate_limit": {"per": 600}}]}, "needs a unit"),
        ({"targets": [{"id": "a", "url": "json://h", "rate_limit": {"per": "10 parsecs"}}]}, "is not like"),
        ({"targets": [{"id": "a", "url": "127.0.0.1:8080/hook"}]}, "is not an apprise URL"),
        ({"targets": [{"id": "a", "url": "json://h", "kinds": ["pager"]}]}, "kinds"),
        ({"targets": [{"id": "Crisis", "url": "json://h"}]}, "pattern"),
        ({"targets": [{"id": "a", "url": "json://h", "kinds": ["issue"]}], "red_flag": ["a"]}, "leave out red_flag"),
        ({"targets": [{"id": "a", "url": "json://h", "colour": "red"}]}, "Extra inputs are not permitted"),
    ],
)
def test_alerts_section_refuses_mistakes(section, message):
    with pytest.raises(ValidationError, match=message):
        AlertsConfig.model_validate(section)


# --- pure parts: backoff, rate-limit window, message text -------------------------------------------------


@given(st.integers(min_value=1, max_value=10_000))
def test_retry_delay_doubles_from_ten_seconds_up_to_an_hour(attempts):
    delay = retry_delay(attempts)
    assert timedelta(seconds=10) <= delay <= timedelta(hours=1)
    assert retry_delay(attempts + 1) >= delay
    assert delay == min(timedelta(seconds=10 * 2 ** min(attempts - 1, 20)), timedelta(hours=1))


def test_retry_delay_first_steps():
    assert [retry_delay(n).total_seconds() for n in range(1, 11)] == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    with pytest.raises(ValueError, match="at least 1"):
        retry_delay(0)


@given(
    offsets=st.lists(st.integers(min_value=0, max_value=7200), max_size=12),
    count=st.integers(min_value=1, max_value=5),
    per_s=st.integers(min_value=1, max_value=3600),
)
def test_rate_limit_frees_at_the_first_moment_fewer_than_count_remain(offsets, count, per_s):
    now = T0 + timedelta(hours=2)
    per = timedelta(seconds=per_s)
    sent = [T0 + timedelta(seconds=o) for o in offsets if T0 + timedelta(seconds=o) <= now]

    def in_window(at: datetime) -> int:
        return sum(1 for t in sent if at - per < t <= at)

    frees = rate_limit_frees_at(sent, count=count, per=per, now=now)
    if frees is None:
        assert in_window(now) < count
    else:
        assert in_window(now) >= count
        assert frees > now
        assert in_window(frees) < count  # free at that moment (nothing is sent in between)
        assert in_window(frees - timedelta(microseconds=1)) >= count  # and not a moment earlier


def test_one_alert_is_its_own_message_and_several_are_combined():
    one = compose([AlertText("Red flag: legal threat", "Reasons: mentions a lawyer", "https://fb.test/m/1")])
    assert one.title == "Red flag: legal threat"
    assert one.body == "Reasons: mentions a lawyer\nhttps://fb.test/m/1"

    three = compose([
        AlertText("Red flag: legal threat", "lawyer", "https://fb.test/m/1"),
        AlertText("Red flag: safety", "fire", None),
        AlertText("SLA breached", "see https://fb.test/q", "https://fb.test/q"),
    ])
    assert three.title == "3 alerts: Red flag: legal threat; Red flag: safety; SLA breached"
    assert three.body == ("[1/3] Red flag: legal threat\nlawyer\nhttps://fb.test/m/1\n\n"
                          "[2/3] Red flag: safety\nfire\n\n"
                          "[3/3] SLA breached\nsee https://fb.test/q")
    many = compose([AlertText(f"Red flag number {i}", "", None) for i in range(40)])
    assert len(many.title) == 250 and many.title.endswith("…")


# --- the outbox --------------------------------------------------------------------------------------------


def draft(workspace_id: int, target: str, key: str, *, kind: str = "red_flag", **fields) -> AlertDraft:
    fields.setdefault("subject", f"Red flag: {key}")
    fields.setdefault("body", f"Reasons: {key}\nRecommended action: call legal")
    fields.setdefault("link", f"https://firebreak.test/mentions/{key}")
    return AlertDraft(workspace_id=workspace_id, target=target, kind=kind, dedupe_key=key, **fields)


def alerts_of(db, **where) -> list[Alert]:
    with db.read() as s:
        return list(s.scalars(select(Alert).filter_by(**where).order_by(Alert.id)))


def test_enqueue_stores_each_alert_once_per_target(db, acme, globex):
    now = T0
    with db.write() as s:
        assert enqueue(session=s, alerts=[draft(acme.id, "mail", "m1"), draft(acme.id, "mail", "m1"),
                                          draft(acme.id, "hook", "m1"), draft(globex.id, "mail", "m1")], now=now) == 3
    with db.write() as s:
        assert enqueue(session=s, alerts=[draft(acme.id, "mail", "m1"), draft(acme.id, "mail", "m2")], now=now) == 1
        assert enqueue(session=s, alerts=[], now=now) == 0
    rows = alerts_of(db)
    assert [(r.workspace_id, r.target, r.dedupe_key, r.state, r.attempts) for r in rows] == [
        (acme.id, "mail", "m1", "pending", 0), (acme.id, "hook", "m1", "pending", 0),
        (globex.id, "mail", "m1", "pending", 0), (acme.id, "mail", "m2", "pending", 0),
    ]
    assert rows[0].next_attempt_at == now and rows[0].created_at == now


def test_enqueue_keeps_payload_and_link_and_lets_the_mention_go(db, acme):
    [stored] = ingest(db, acme, [mention("7001", "I will sue you")]).ids
    payload = {"reasons": [{"code": "legal_threat", "text": "mentions a lawsuit"}], "recommended_action": "legal"}
    with db.write() as s:
        enqueue(session=s, alerts=[draft(acme.id, "mail", "m7001", mention_id=stored, payload=payload)], now=T0)
    [row] = alerts_of(db)
    assert (row.mention_id, row.payload, row.link) == (stored, payload, "https://firebreak.test/mentions/m7001")
    with db.write() as s:
        s.execute(delete(Mention).where(Mention.id == stored))
    [row] = alerts_of(db)
    assert row.mention_id is None  # the alert outlives the mention it was about


def test_enqueue_refuses_what_it_cannot_store(db, acme):
    with pytest.raises(InvalidInput, match="unknown alert kind 'pager'"), db.write() as s:
        enqueue(session=s, alerts=[draft(acme.id, "mail", "k", kind="pager")], now=T0)
    with pytest.raises(InvalidInput, match="dedupe key"), db.write() as s:
        enqueue(session=s, alerts=[draft(acme.id, "mail", "k" * 201)], now=T0)
    with db.write() as s:
        enqueue(session=s, alerts=[draft(acme.id, "mail", "long", subject="S" * 500)], now=T0)
    [row] = alerts_of(db)
    assert len(row.subject) == 300 and row.subject.endswith("…")


# --- delivery to real servers --------------------------------------------------------------------------------


def put(db, *drafts: AlertDraft, now: datetime) -> None:
    with db.write() as s:
        enqueue(session=s, alerts=list(drafts), now=now)


def test_red_flag_is_mailed_through_a_real_smtp_server(db, acme):
    clock = FixedClock(T0)
    with smtp_receiver() as smtp:
        targets = {"crisis_email": TargetSpec(id="crisis_email", url_env="FIREBREAK_ALERT_CRISIS_EMAIL")}
        environ = {"FIREBREAK_ALERT_CRISIS_EMAIL": smtp.mailto_url(to="crisis@example.test")}
        put(db, draft(acme.id, "crisis_email", "m1", subject="Red flag: legal threat on X",
                      body="Reasons:\n- mentions a lawsuit\nRecommended action: hand to legal"), now=clock.now())
        report = AlertDispatcher(targets, environ=environ, clock=clock).deliver_due(db)
        [mail] = smtp.wait_for(1)
    assert (report.messages, report.sent) == (1, 1)
    assert mail.mail_from == "firebreak@example.test" and mail.rcpt_tos == ["crisis@example.test"]
    assert mail.subject == "Red flag: legal threat on X"
    assert "Reasons:\n- mentions a lawsuit\nRecommended action: hand to legal" in mail.text
    assert "https://firebreak.test/mentions/m1" in mail.text
    [row] = alerts_of(db)
    assert (row.state, row.attempts, row.sent_at, row.lease_until, row.last_error) == ("sent", 1, T0, None, None)


def test_alert_is_posted_to_a_real_json_webhook(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        targets = {"ops": TargetSpec(id="ops", url=hook.json_url("/firebreak/alerts"))}
        put(db, draft(acme.id, "ops", "c1", kind="sla_warning", subject="SLA warning: first response due in 5m",
                      body="Queue: support", link="https://firebreak.test/queue"), now=clock.now())
        AlertDispatcher(targets, clock=clock).deliver_due(db)
        [request] = hook.wait_for(1)
    assert (request.method, request.path) == ("POST", "/firebreak/alerts")
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json["title"] == "SLA warning: first response due in 5m"
    assert request.json["message"] == "Queue: support\nhttps://firebreak.test/queue"
    assert request.json["type"] == "warning"


def test_alerts_due_together_for_one_target_go_out_as_one_message(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        targets = {"ops": TargetSpec(id="ops", url=hook.json_url())}
        put(db, draft(acme.id, "ops", "a", kind="issue"), draft(acme.id, "ops", "b"),
            draft(acme.id, "ops", "c", kind="sla_warning"), now=clock.now())
        report = AlertDispatcher(targets, clock=clock).deliver_due(db)
        [request] = hook.wait_for(1)
    assert (report.messages, report.sent) == (1, 3)
    assert request.json["title"] == "3 alerts: Red flag: a; Red flag: b; Red flag: c"
    assert "[1/3] Red flag: a" in request.json["message"] and "[3/3] Red flag: c" in request.json["message"]
    assert request.json["type"] == "failure"  # the most urgent kind in it (a red flag)
    rows = alerts_of(db)
    assert {r.state for r in rows} == {"sent"} and len({r.batch_id for r in rows}) == 1


def test_failing_target_backs_off_and_never_holds_up_the_others(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as bad, webhook_receiver() as good:
        bad.status = 500
        targets = {"bad": TargetSpec(id="bad", url=bad.json_url()), "good": TargetSpec(id="good", url=good.json_url())}
        dispatcher = AlertDispatcher(targets, clock=clock)
        put(db, draft(acme.id, "bad", "m1"), draft(acme.id, "good", "m1"), now=clock.now())

        report = dispatcher.deliver_due(db)
        assert (report.sent, report.retrying) == (1, 1)
        assert len(good.delivered()) == 1
        [failing] = alerts_of(db, target="bad")
        assert (failing.state, failing.attempts, failing.next_attempt_at) == ("pending", 1, T0 + timedelta(seconds=10))
        assert "500" in (failing.last_error or "") or "Internal Server Error" in (failing.last_error or "")
        assert "workspace" in report.errors[0] and "target bad" in report.errors[0]

        clock.advance(timedelta(seconds=9))
        assert dispatcher.deliver_due(db) == DeliveryReport()  # not due yet: nothing is tried
        clock.advance(timedelta(seconds=1))
        dispatcher.deliver_due(db)
        [failing] = alerts_of(db, target="bad")
        assert (failing.attempts, failing.next_attempt_at) == (2, clock.now() + timedelta(seconds=20))

        bad.status = 200
        clock.advance(timedelta(seconds=20))
        assert dispatcher.deliver_due(db).sent == 1
        clock.advance(timedelta(hours=2))
        assert dispatcher.deliver_due(db) == DeliveryReport()
        assert len(bad.requests) == 3 and len(bad.delivered()) == 1
        assert len(good.requests) == 1
    [recovered] = alerts_of(db, target="bad")
    assert (recovered.state, recovered.attempts, recovered.sent_at, recovered.last_error) == (
        "sent", 3, clock.now() - timedelta(hours=2), None)


def test_target_that_keeps_failing_is_given_up_and_audited(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        hook.status = 503
        dispatcher = AlertDispatcher({"ops": TargetSpec(id="ops", url=hook.json_url())}, clock=clock, max_attempts=3)
        put(db, draft(acme.id, "ops", "m1"), now=clock.now())
        for _ in range(3):
            last = dispatcher.deliver_due(db)
            clock.advance(timedelta(hours=1))
        assert last.failed == 1
        assert dispatcher.deliver_due(db) == DeliveryReport()
        assert len(hook.requests) == 3
    [row] = alerts_of(db)
    assert (row.state, row.attempts) == ("failed", 3)
    with db.read() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "alert.failed"))
    assert (entry.workspace_id, entry.subject_type, entry.subject_id) == (acme.id, "alert", str(row.id))
    assert entry.details["target"] == "ops" and entry.details["attempts"] == 3


def test_same_dedupe_key_twice_is_delivered_once(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        dispatcher = AlertDispatcher({"ops": TargetSpec(id="ops", url=hook.json_url())}, clock=clock)
        put(db, draft(acme.id, "ops", "red_flag:mention:1"), now=clock.now())
        put(db, draft(acme.id, "ops", "red_flag:mention:1"), now=clock.now())
        dispatcher.deliver_due(db)
        clock.advance(timedelta(minutes=1))
        put(db, draft(acme.id, "ops", "red_flag:mention:1"), now=clock.now())  # after it was sent, too
        dispatcher.deliver_due(db)
        assert len(hook.requests) == 1
    assert len(alerts_of(db)) == 1


def test_rate_limit_defers_without_losing_anything(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        spec = TargetSpec.model_validate({"id": "ops", "url": hook.json_url(),
                                          "rate_limit": {"count": 2, "per": "10m"}})
        dispatcher = AlertDispatcher({"ops": spec}, clock=clock)
        for i in range(5):
            put(db, draft(acme.id, "ops", f"m{i}"), now=clock.now())
            dispatcher.deliver_due(db)
            clock.advance(timedelta(minutes=1))
        # Two messages in the window, the other three alerts wait for it to free up.
        assert len(hook.requests) == 2
        waiting = alerts_of(db, state="pending")
        assert [r.dedupe_key for r in waiting] == ["m2", "m3", "m4"]
        assert {r.next_attempt_at for r in waiting} == {T0 + timedelta(minutes=10)}  # the first message ages out
        assert {r.attempts for r in waiting} == {0}  # waiting is not failing

        clock.advance(T0 + timedelta(minutes=10) - clock.now() - timedelta(seconds=1))
        assert dispatcher.deliver_due(db) == DeliveryReport()
        clock.advance(timedelta(seconds=1))
        report = dispatcher.deliver_due(db)
        assert (report.messages, report.sent) == (1, 3)  # one combined message: the third in this window
        assert hook.requests[-1].json["title"].startswith("3 alerts: ")

        put(db, draft(acme.id, "ops", "m5"), now=clock.now())
        report = dispatcher.deliver_due(db)
        assert report.deferred == 1 and len(hook.requests) == 3
    assert [r.dedupe_key for r in alerts_of(db, state="sent")] == ["m0", "m1", "m2", "m3", "m4"]
    [m5] = alerts_of(db, state="pending")
    assert m5.next_attempt_at == T0 + timedelta(minutes=11)  # the second message ages out then


def test_unset_url_env_is_a_failed_attempt_with_the_reason(db, acme):
    clock = FixedClock(T0)
    with smtp_receiver() as smtp:
        targets = {"crisis_email": TargetSpec(id="crisis_email", url_env="FIREBREAK_ALERT_CRISIS_EMAIL")}
        environ: dict[str, str] = {}
        dispatcher = AlertDispatcher(targets, environ=environ, clock=clock)
        put(db, draft(acme.id, "crisis_email", "m1"), now=clock.now())
        report = dispatcher.deliver_due(db)
        assert report.retrying == 1
        [row] = alerts_of(db)
        assert (row.state, row.attempts) == ("pending", 1)
        assert "FIREBREAK_ALERT_CRISIS_EMAIL is not set" in (row.last_error or "")

        environ["FIREBREAK_ALERT_CRISIS_EMAIL"] = smtp.mailto_url()  # read at send time, not at start
        clock.advance(timedelta(seconds=10))
        assert dispatcher.deliver_due(db).sent == 1
        smtp.wait_for(1)


def test_url_apprise_cannot_use_is_reported_without_echoing_it(db, acme):
    clock = FixedClock(T0)
    dispatcher = AlertDispatcher({"x": TargetSpec(id="x", url="nosuchservice://secret-token@host")}, clock=clock)
    put(db, draft(acme.id, "x", "m1"), now=clock.now())
    dispatcher.deliver_due(db)
    [row] = alerts_of(db)
    assert row.last_error == "apprise cannot use the URL of alert target 'x' (scheme 'nosuchservice')"


def test_alerts_the_playbook_no_longer_routes_are_suppressed(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        targets = {"ops": TargetSpec(id="ops", url=hook.json_url(), kinds=["sla_breach"])}
        put(db, draft(acme.id, "ops", "m1"), draft(acme.id, "gone", "m1"),
            draft(acme.id, "ops", "c1", kind="sla_breach"), now=clock.now())
        report = AlertDispatcher(targets, clock=clock).deliver_due(db)
        [request] = hook.wait_for(1)
    assert (report.sent, report.suppressed) == (1, 2)
    assert request.json["title"] == "Red flag: c1"
    reasons = {(r.target, r.dedupe_key): (r.state, r.last_error) for r in alerts_of(db)}
    assert reasons[("ops", "m1")] == ("suppressed", "alert target 'ops' no longer receives red_flag alerts")
    assert reasons[("gone", "m1")] == ("suppressed", "alert target 'gone' is no longer in the playbook")


def test_each_workspace_uses_its_own_targets(db, acme, globex):
    clock = FixedClock(T0)
    with webhook_receiver() as acme_hook, webhook_receiver() as globex_hook:
        playbooks = {acme.id: {"crisis": TargetSpec(id="crisis", url=acme_hook.json_url())},
                     globex.id: {"crisis": TargetSpec(id="crisis", url=globex_hook.json_url())}}
        put(db, draft(acme.id, "crisis", "acme-1"), draft(globex.id, "crisis", "globex-1"), now=clock.now())
        report = AlertDispatcher(playbooks.__getitem__, clock=clock).deliver_due(db)
        assert report.messages == 2
        assert [r.json["title"] for r in acme_hook.wait_for(1)] == ["Red flag: acme-1"]
        assert [r.json["title"] for r in globex_hook.wait_for(1)] == ["Red flag: globex-1"]


def test_workspace_whose_targets_cannot_be_read_waits_without_stopping_the_others(db, acme, globex):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        def targets(workspace_id: int) -> dict[str, TargetSpec]:
            if workspace_id == globex.id:
                raise ValueError("playbook.yaml line 3: bad indentation")
            return {"crisis": TargetSpec(id="crisis", url=hook.json_url())}

        put(db, draft(acme.id, "crisis", "acme-1"), draft(globex.id, "crisis", "globex-1"), now=clock.now())
        report = AlertDispatcher(targets, clock=clock).deliver_due(db)
        assert [r.json["title"] for r in hook.wait_for(1)] == ["Red flag: acme-1"]
    assert report.errors == [f"workspace {globex.id}: cannot read its alert targets: "
                             "playbook.yaml line 3: bad indentation"]
    [waiting] = alerts_of(db, workspace_id=globex.id)
    assert (waiting.state, waiting.attempts) == ("pending", 0)


# --- crash safety and concurrency -------------------------------------------------------------------------------


def test_alert_left_sending_by_a_dead_dispatcher_is_sent_after_its_lease(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        dispatcher = AlertDispatcher({"ops": TargetSpec(id="ops", url=hook.json_url())}, clock=clock)
        put(db, draft(acme.id, "ops", "crashed"), draft(acme.id, "ops", "busy"), now=clock.now())
        with db.write() as s:  # one claimed by a dispatcher that died, one by a dispatcher still at work
            s.execute(update(Alert).where(Alert.dedupe_key == "crashed")
                      .values(state="sending", attempts=1, lease_until=T0 - timedelta(seconds=1)))
            s.execute(update(Alert).where(Alert.dedupe_key == "busy")
                      .values(state="sending", attempts=1, lease_until=T0 + timedelta(seconds=30)))
        report = dispatcher.deliver_due(db)
        assert (report.sent, [r.json["title"] for r in hook.wait_for(1)]) == (1, ["Red flag: crashed"])
        clock.advance(timedelta(seconds=30))
        assert dispatcher.deliver_due(db).sent == 1
        assert [r.json["title"] for r in hook.wait_for(2)] == ["Red flag: crashed", "Red flag: busy"]
    assert {(r.dedupe_key, r.state, r.attempts) for r in alerts_of(db)} == {("crashed", "sent", 2), ("busy", "sent", 2)}


def test_concurrent_dispatchers_never_send_an_alert_twice(db, acme):
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        targets = {f"t{i}": TargetSpec(id=f"t{i}", url=hook.json_url(f"/t{i}")) for i in range(6)}
        put(db, *[draft(acme.id, f"t{i}", f"t{i}-{j}") for i in range(6) for j in range(3)], now=clock.now())
        dispatchers = [AlertDispatcher(targets, clock=clock) for _ in range(2)]
        start = threading.Barrier(2)
        reports: list[DeliveryReport] = []

        def run(dispatcher: AlertDispatcher) -> None:
            start.wait()
            reports.append(dispatcher.deliver_due(db, limit=9))

        threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sum(r.sent for r in reports) == 18
        assert all(r.sent for r in reports)  # both got work: the claims really were concurrent
        delivered = [line.split("] ", 1)[-1] for request in hook.wait_for(6)
                     for line in request.json["message"].splitlines() if line.startswith("[")]
    assert sorted(delivered) == sorted(f"Red flag: t{i}-{j}" for i in range(6) for j in range(3))
    assert {r.state for r in alerts_of(db)} == {"sent"}


def test_rows_another_dispatcher_is_claiming_are_skipped_not_waited_for(db, acme):
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time, so claims queue on its lock instead")
    clock = FixedClock(T0)
    with webhook_receiver() as hook:
        targets = {t: TargetSpec(id=t, url=hook.json_url(f"/{t}")) for t in ("held", "free")}
        put(db, draft(acme.id, "held", "h1"), draft(acme.id, "free", "f1"), now=clock.now())
        reports: list[DeliveryReport] = []
        with db.engine.connect() as other, other.begin():  # a claim in progress elsewhere holds 'held'
            other.execute(select(Alert.id).where(Alert.target == "held").with_for_update())
            worker = threading.Thread(target=lambda: reports.append(AlertDispatcher(targets, clock=clock)
                                                                    .deliver_due(db)))
            worker.start()
            worker.join(10)
            assert not worker.is_alive(), "deliver_due waited for a row lock instead of skipping the row"
        assert reports[0].sent == 1 and [r.path for r in hook.wait_for(1)] == ["/free"]
    assert {(r.target, r.state) for r in alerts_of(db)} == {("held", "pending"), ("free", "sent")}


def test_dispatcher_refuses_a_timeout_longer_than_its_lease():
    with pytest.raises(ValueError, match="shorter than the lease"):
        AlertDispatcher({}, lease=timedelta(seconds=30), send_timeout=timedelta(seconds=30))

