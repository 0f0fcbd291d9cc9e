"""A loopback receiver that speaks the outbox webhook protocol, and issues with approved content for tests.

    with outbound_receiver(secrets) as bridge:               # secrets: channel slug -> webhook secret
        connect(db, acme, "x-main", bridge.url("/x"))
        ... deliver ...
        assert bridge.delivered_keys() == ["publication:1:channel:1"]
        assert bridge.requests_for(key) == 2                 # sent twice (a crash), posted once

The receiver does what a real bridge must: it checks the HMAC signature and the timestamp with the
channel's secret (the same code that checks inbound webhooks), reads the Idempotency-Key header,
posts each key once and answers a repeated key with the id it gave the first time. `fail_next(503, n)`
makes the next n requests fail; `hold()` keeps the next request waiting (after it was posted) until
`release()`, so a test can kill the sender between sending and recording.

`python -m tests.outbox_support URL` runs one delivery round with the real dispatcher, for the
crash test that kills it mid-send.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from firebreak.channels.models import Channel
from firebreak.core.errors import Unauthorized
from firebreak.db.engine import Database
from firebreak.issues.models import Draft, DraftVersion, Issue, IssueMention
from firebreak.mentions.models import Mention
from firebreak.mentions.webhook import verify
from firebreak.outbox import service as outbox
from firebreak.outbox.models import OutboxMessage
from tests.factories import WorkspaceFixture

WAIT_SECONDS = 10.0
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Delivery:
    key: str
    remote_id: str
    channel: str
    payload: dict[str, Any]
    headers: dict[str, str]


class OutboundReceiver:
    """A bridge on loopback: verifies, dedupes by Idempotency-Key, counts every request."""

    def __init__(self, secrets: dict[str, str], *, answer_delay: float = 0.0) -> None:
        self.secrets = dict(secrets)
        self.answer_delay = answer_delay
        self.deliveries: dict[str, Delivery] = {}
        self.attempts: list[tuple[str | None, int]] = []  # (key, status answered), in arrival order
        self.rejected: list[str] = []
        self._failures: list[tuple[int, dict[str, str], str]] = []
        self._hold = threading.Event()
        self._held = threading.Event()
        self._hold.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server hook
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer, extra = receiver._handle(self.path, dict(self.headers.items()), body)
                if status < 300 and not receiver._hold.is_set():
                    receiver._held.set()
                    receiver._hold.wait(60)
                if receiver.answer_delay:
                    time.sleep(receiver.answer_delay)
                try:
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender died while we held its request: that is the point of holding

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    def url(self, path: str = "/outbox") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def fail_next(self, status: int, times: int = 1, *, headers: dict[str, str] | None = None,
                  text: str = "try later") -> None:
        """Answer the next `times` requests with `status` (and these headers) instead of posting."""
        with self._lock:
            self._failures.extend([(status, headers or {}, text)] * times)

    def hold(self) -> None:
        """Keep the next successful request's answer back until `release()` (it is posted already)."""
        self._held.clear()
        self._hold.clear()

    def wait_until_held(self, timeout: float = WAIT_SECONDS) -> None:
        assert self._held.wait(timeout), "no request arrived to hold"

    def release(self) -> None:
        self._hold.set()

    def delivered_keys(self) -> list[str]:
        with self._lock:
            return list(self.deliveries)

    def requests_for(self, key: str) -> int:
        with self._lock:
            return sum(1 for seen, _ in self.attempts if seen == key)

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {count} deliveries (got {len(self.deliveries)})")
            time.sleep(0.01)
        with self._lock:
            return list(self.deliveries.values())

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        lower = {name.lower(): value for name, value in headers.items()}
        key = lower.get("idempotency-key")
        channel = lower.get("x-firebreak-channel", "")
        try:
            verify(secret=self.secrets.get(channel), timestamp=lower.get("x-firebreak-timestamp"),
                   signature=lower.get("x-firebreak-signature"), body=body, now=time.time(),
                   tolerance=TOLERANCE_SECONDS)
        except Unauthorized as exc:
            with self._lock:
                self.rejected.append(str(exc))
                self.attempts.append((key, 401))
            return 401, json.dumps({"error": str(exc)}).encode(), {}
        payload = json.loads(body)
        with self._lock:
            if self._failures:
                status, extra, text = self._failures.pop(0)
                self.attempts.append((key, status))
                return status, text.encode(), extra
            if not key or payload.get("idempotency_key") != key or payload.get("channel") != channel:
                self.attempts.append((key, 422))
                return 422, b'{"error": "the key and channel must match the body"}', {}
            seen = self.deliveries.get(key)
            if seen is None:
                seen = self.deliveries[key] = Delivery(key, f"remote-{len(self.deliveries) + 1}", channel, payload,
                                                       headers)
            self.attempts.append((key, 200))
        return 200, json.dumps({"id": seen.remote_id}).encode(), {}


@contextmanager
def outbound_receiver(secrets: dict[str, str], *, answer_delay: float = 0.0) -> Iterator[OutboundReceiver]:
    receiver = OutboundReceiver(secrets, answer_delay=answer_delay)
    thread = threading.Thread(target=receiver._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        receiver._server.shutdown()
        receiver._server.server_close()
        thread.join(WAIT_SECONDS)


# ---------------------------------------------------------------------------------------------- data


def channel_secrets(db: Database, ws: WorkspaceFixture) -> dict[str, str]:
    """Every channel's webhook secret by slug (what the bridge is configured with)."""
    with db.read() as session:
        return {slug: secret or "" for slug, secret in session.execute(
            select(Channel.slug, Channel.webhook_secret).where(Channel.workspace_id == ws.id))}


def connect(db: Database, ws: WorkspaceFixture, channel: str, url: str | None) -> None:
    """Point the channel's webhook connector at `url` through the outbox service."""
    with db.write() as session:
        outbox.set_outbound_url(session=session, workspace_id=ws.id, channel=channel, url=url, actor="test")


def add_channel(db: Database, ws: WorkspaceFixture, slug: str, kind: str = "reddit") -> int:
    from firebreak.channels import service as channel_service

    with db.write() as session:
        return channel_service.create_channel(session=session, workspace_id=ws.id, slug=slug, kind=kind).id


def make_issue(db: Database, ws: WorkspaceFixture, *, at: datetime, title: str = "Checkout errors",
               body: str | None = "Some customers could not pay.\n\nWe fixed it at 10:00.", state: str = "approved",
               kind: str = "response", number: int = 1) -> tuple[int, int | None]:
    """An open issue in the publishing stage with one `kind` draft version in `state`; (issue id, version id)."""
    with db.write() as session:
        issue = Issue(workspace_id=ws.id, number=number, title=title, summary="", severity="high", state="open",
                      stage="publishing", stage_entered_at=at, created_by="test", created_at=at,
                      playbook_version="default", revision=1)
        session.add(issue)
        session.flush()
        if body is None:
            return issue.id, None
        version_id = add_version(session, ws, issue.id, body=body, state=state, kind=kind, at=at)
        return issue.id, version_id


def add_version(session: Any, ws: WorkspaceFixture, issue_id: int, *, body: str, state: str = "approved",
                kind: str = "response", at: datetime) -> int:
    """A new version of the issue's `kind` draft (the draft is made on first use); return its id."""
    draft = session.scalar(select(Draft).where(Draft.issue_id == issue_id, Draft.kind == kind))
    if draft is None:
        draft = Draft(workspace_id=ws.id, issue_id=issue_id, kind=kind, title=kind.title(), created_at=at)
        session.add(draft)
        session.flush()
    number = len(list(session.scalars(select(DraftVersion.id).where(DraftVersion.draft_id == draft.id)))) + 1
    version = DraftVersion(workspace_id=ws.id, draft_id=draft.id, number=number, body=body, state=state,
                           author="cora@acme.test", created_at=at,
                           approved_at=at if state == "approved" else None,
                           approved_by="lex@acme.test" if state == "approved" else None)
    session.add(version)
    session.flush()
    return int(version.id)


def link_mentions(db: Database, ws: WorkspaceFixture, issue_id: int, external_ids: list[str], *,
                  at: datetime) -> None:
    """Link the mentions with these external ids to the issue, as the lifecycle's linking does."""
    with db.write() as session:
        for mention in session.scalars(select(Mention).where(Mention.workspace_id == ws.id,
                                                             Mention.external_id.in_(external_ids))):
            session.add(IssueMention(workspace_id=ws.id, issue_id=issue_id, mention_id=mention.id,
                                     channel_id=mention.channel_id, site="test",
                                     conversation_id=mention.conversation_id,
                                     posted_at=mention.created_at, linked_at=at, linked_by="test"))


def messages(db: Database, **where: Any) -> list[OutboxMessage]:
    """Outbox rows in id order (filtered by column values), detached."""
    with db.read() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(OutboxMessage, name) == value)
        rows = list(session.scalars(stmt))
        session.expunge_all()
    return rows


def _deliver_once(argv: list[str]) -> int:
    """`python -m tests.outbox_support URL`: one delivery round with the real dispatcher and wall clock."""
    (url,) = argv
    from firebreak.outbox.delivery import OutboxDispatcher

    report = OutboxDispatcher(Database(url)).deliver_due()
    print(f"done sent={report.sent} errors={report.errors}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_deliver_once(sys.argv[1:]))
