"""Deliver the outbox through apprise: claim due alerts, send them, record what happened.

One call of `AlertDispatcher.deliver_due`:

1. In one short write transaction, claim due alerts: pending ones whose `next_attempt_at` has come,
   and 'sending' ones whose lease ran out (their dispatcher died mid-send). PostgreSQL skips rows that
   another dispatcher holds (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time. Claimed alerts
   are grouped per (workspace, target). An alert its target no longer receives is suppressed; a group
   whose target has used up its rate limit is pushed back to when the window frees; the rest are
   marked 'sending' under a lease.
2. With no transaction open, send each group as ONE message (see `firebreak.notify.message`), the
   groups in parallel, each bounded by a timeout shorter than the lease, so a slow or dead target
   holds up nobody else.
3. Record each group's outcome in its own short transaction: sent; or back to pending after an
   exponential backoff, with apprise's reason in `last_error`; or failed for good after
   `max_attempts`, which is written to the audit log.

Delivery is at least once: a dispatcher that dies between sending and recording sends again once
the lease has run out. The rate limit counts messages, so a combined message counts once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import apprise
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import Clock, SystemClock
from firebreak.core.errors import ConfigurationError
from firebreak.db.engine import Database
from firebreak.notify.message import AlertText, compose
from firebreak.notify.models import Alert
from firebreak.notify.pacing import RETRY_BASE, RETRY_CAP, rate_limit_frees_at, retry_delay
from firebreak.notify.schema import TargetSpec

Targets = Mapping[str, TargetSpec]
# Either one set of targets for every workspace, or a lookup per workspace (each has its own playbook).
TargetsSource = Targets | Callable[[int], Targets]

# The most urgent kind in a message decides how the service shows it (red in Slack and Teams).
_NOTIFY_TYPES = {
    "red_flag": apprise.NotifyType.FAILURE,
    "sla_breach": apprise.NotifyType.FAILURE,
    "escalation": apprise.NotifyType.WARNING,
    "sla_warning": apprise.NotifyType.WARNING,
    "issue": apprise.NotifyType.INFO,
}
_URGENCY = [apprise.NotifyType.FAILURE, apprise.NotifyType.WARNING, apprise.NotifyType.INFO]


@dataclass
class DeliveryReport:
    """What one `deliver_due` call did, counted in alerts except `messages`."""

    messages: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    kind: str
    text: AlertText
    attempts: int


@dataclass(frozen=True, slots=True)
class _Batch:
    workspace_id: int
    target: TargetSpec
    alerts: list[_Claimed]


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending alerts whose time has come, and alerts whose dispatcher died while sending them."""
    return or_(and_(Alert.state == "pending", Alert.next_attempt_at <= now),
               and_(Alert.state == "sending", Alert.lease_until <= now))


class AlertDispatcher:
    """Sends due alerts from the outbox; safe to run in several threads or processes at once."""

    def __init__(
        self,
        targets: TargetsSource,
        *,
        environ: Mapping[str, str] = os.environ,
        clock: Clock | None = None,
        max_attempts: int = 8,
        lease: timedelta = timedelta(seconds=60),
        send_timeout: timedelta = timedelta(seconds=30),
        max_parallel: int = 8,
        retry_base: timedelta = RETRY_BASE,
        retry_cap: timedelta = RETRY_CAP,
    ) -> None:
        if send_timeout >= lease:
            # Otherwise a slow send could outlive its lease and another dispatcher would send it again.
            raise ValueError(f"send_timeout ({send_timeout}) must be shorter than the lease ({lease})")
        if max_attempts < 1 or max_parallel < 1:
            raise ValueError("max_attempts and max_parallel must be at least 1")
        self._targets: Callable[[int], Targets] = targets if callable(targets) else (lambda _workspace_id: targets)
        self._environ = environ
        self._clock = clock or SystemClock()
        self._max_attempts = max_attempts
        self._lease = lease
        self._send_timeout = send_timeout
        self._max_parallel = max_parallel
        self._retry_base = retry_base
        self._retry_cap = retry_cap

    def deliver_due(self, db: Database, *, limit: int = 100) -> DeliveryReport:
        """Send the alerts that are due (at most `limit`) and return what happened."""
        report = DeliveryReport()
        now = self._clock.now()
        # Look up the targets before the write transaction: the lookup may read a playbook, and an idle
        # poll should not take SQLite's write lock at all.
        with db.read() as session:
            workspace_ids = session.scalars(select(Alert.workspace_id).where(_due(now)).distinct()).all()
        targets: dict[int, Targets] = {}
        for workspace_id in workspace_ids:
            try:
                targets[workspace_id] = self._targets(workspace_id)
            except Exception as exc:  # noqa: BLE001 - one broken playbook must not stop other workspaces
                # Its alerts stay due, with no attempt used up, until its targets can be read again.
                report.errors.append(f"workspace {workspace_id}: cannot read its alert targets: {exc}")
        if not targets:
            return report
        with db.write() as session:
            batches = self._claim(session, now, limit, targets, report)
        if not batches:
            return report
        with ThreadPoolExecutor(max_workers=len(batches), thread_name_prefix="alert-send") as pool:
            futures = {pool.submit(self._send, batch): batch for batch in batches}
            for future in as_completed(futures):
                with db.write() as session:
                    self._record(session, futures[future], future.result(), self._clock.now(), report)
        return report

    def _claim(self, session: Session, now: datetime, limit: int, targets: dict[int, Targets],
               report: DeliveryReport) -> list[_Batch]:
        due = (
            select(Alert.id, Alert.workspace_id, Alert.target, Alert.kind, Alert.subject, Alert.body, Alert.link,
                   Alert.attempts)
            # A workspace whose first alert came due after the look-up waits for the next call.
            .where(_due(now), Alert.workspace_id.in_(list(targets)))
            .order_by(Alert.next_attempt_at, Alert.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        groups: dict[tuple[int, str], list[_Claimed]] = {}
        for row in session.execute(due):
            groups.setdefault((row.workspace_id, row.target), []).append(
                _Claimed(row.id, row.kind, AlertText(row.subject, row.body, row.link), row.attempts + 1)
            )
        batches: list[_Batch] = []
        for (workspace_id, target_id), alerts in groups.items():
            if len(batches) == self._max_parallel:
                break  # the rest stay due for the next call
            spec = targets[workspace_id].get(target_id)
            wanted: list[_Claimed] = []
            for alert in alerts:
                if spec is not None and spec.accepts(alert.kind):
                    wanted.append(alert)
                else:
                    # The playbook changed since the alert was queued; retrying would not help.
                    self._suppress(session, alert, target_id, known=spec is not None)
                    report.suppressed += 1
            if spec is None or not wanted:
                continue
            ids = [a.id for a in wanted]
            frees_at = rate_limit_frees_at(
                self._recent_messages(session, workspace_id, target_id, spec.rate_limit.per, now),
                count=spec.rate_limit.count, per=spec.rate_limit.per, now=now,
            )
            if frees_at is not None:
                session.execute(update(Alert).where(Alert.id.in_(ids))
                                .values(state="pending", next_attempt_at=frees_at, lease_until=None))
                report.deferred += len(ids)
                continue
            session.execute(update(Alert).where(Alert.id.in_(ids)).values(
                state="sending", lease_until=now + self._lease, attempts=Alert.attempts + 1, batch_id=min(ids),
            ))
            batches.append(_Batch(workspace_id, spec, wanted))
        return batches

    @staticmethod
    def _suppress(session: Session, alert: _Claimed, target_id: str, *, known: bool) -> None:
        reason = (f"alert target {target_id!r} no longer receives {alert.kind} alerts" if known
                  else f"alert target {target_id!r} is no longer in the playbook")
        session.execute(update(Alert).where(Alert.id == alert.id)
                        .values(state="suppressed", lease_until=None, last_error=reason))

    @staticmethod
    def _recent_messages(
        session: Session, workspace_id: int, target_id: str, per: timedelta, now: datetime
    ) -> list[datetime]:
        """Return when each message to the target in the window went out; in-flight ones count as now."""
        of_target = (Alert.workspace_id == workspace_id, Alert.target == target_id)
        sent = session.execute(
            select(func.max(Alert.sent_at))
            .where(*of_target, Alert.state == "sent", Alert.sent_at > now - per)
            .group_by(Alert.batch_id)
        ).scalars()
        in_flight = session.execute(
            select(func.count(func.distinct(Alert.batch_id)))
            .where(*of_target, Alert.state == "sending", Alert.lease_until > now)
        ).scalar_one()
        return [*sent, *[now] * in_flight]

    def _send(self, batch: _Batch) -> str | None:
        """Send one batch as one message; return why it failed, or None. Never raises."""
        target = batch.target
        try:
            url = target.resolve_url(self._environ)
        except ConfigurationError as exc:
            return str(exc)
        try:
            message = compose([a.text for a in batch.alerts])
            kinds = {_NOTIFY_TYPES.get(a.kind, apprise.NotifyType.INFO) for a in batch.alerts}
            client = apprise.Apprise()
            if not client.add(url):
                # Never echo the URL: it may hold a password or a webhook token.
                scheme = url.split("://", 1)[0]
                return f"apprise cannot use the URL of alert target {target.id!r} (scheme {scheme!r})"
            with client.notify(
                body=message.body,
                title=message.title,
                body_format=apprise.NotifyFormat.TEXT,
                notify_type=next(t for t in _URGENCY if t in kinds),
                timeout=self._send_timeout.total_seconds(),
            ) as result:
                if result:
                    return None
                reasons = dict.fromkeys(entry.message for entry in result.logs())
                return "; ".join(reasons) or f"apprise reported {result.status.name}"
        except Exception as exc:  # noqa: BLE001 - one broken target must not stop the others
            return f"{type(exc).__name__}: {exc}"

    def _record(self, session: Session, batch: _Batch, error: str | None, now: datetime,
                report: DeliveryReport) -> None:
        # Each update is limited to rows still 'sending': one whose lease ran out may have been
        # claimed and finished by another dispatcher meanwhile.
        ids = [a.id for a in batch.alerts]
        if error is None:
            session.execute(update(Alert).where(Alert.id.in_(ids), Alert.state == "sending")
                            .values(state="sent", sent_at=now, lease_until=None, last_error=None))
            report.messages += 1
            report.sent += len(ids)
            return
        report.errors.append(f"workspace {batch.workspace_id}, target {batch.target.id}: {error}")
        spent = [a for a in batch.alerts if a.attempts >= self._max_attempts]
        retry = [a for a in batch.alerts if a.attempts < self._max_attempts]
        for attempts in sorted({a.attempts for a in retry}):
            delay = retry_delay(attempts, base=self._retry_base, cap=self._retry_cap)
            same = [a.id for a in retry if a.attempts == attempts]
            session.execute(update(Alert).where(Alert.id.in_(same), Alert.state == "sending")
                            .values(state="pending", next_attempt_at=now + delay, lease_until=None, last_error=error))
        report.retrying += len(retry)
        if spent:
            self._give_up(session, batch, spent, error)
            report.failed += len(spent)

    @staticmethod
    def _give_up(session: Session, batch: _Batch, alerts: Sequence[_Claimed], error: str) -> None:
        session.execute(update(Alert).where(Alert.id.in_([a.id for a in alerts]), Alert.state == "sending")
                        .values(state="failed", lease_until=None, last_error=error))
        for alert in alerts:
            # An alert nobody received is something an administrator must be able to find later.
            audit.record(session=session, workspace_id=batch.workspace_id, actor="notify", action="alert.failed",
                         subject_type="alert", subject_id=alert.id,
                         details={"target": batch.target.id, "kind": alert.kind, "attempts": alert.attempts,
                                  "error": error})
