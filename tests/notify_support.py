"""Loopback receivers for alert tests: a real SMTP server and a real HTTP webhook endpoint.

    with smtp_receiver() as smtp, webhook_receiver() as hook:
        targets = {"mail": TargetSpec(id="mail", url=smtp.mailto_url()),
                   "hook": TargetSpec(id="hook", url=hook.json_url("/alerts"))}
        ...
        assert smtp.wait_for(1)[0].subject == "Red flag: …"
        assert hook.requests[0].json["title"] == "Red flag: …"

Both listen on 127.0.0.1 on a port the kernel picks, and record what they receive in arrival order.
`hook.status = 500` makes the webhook fail until it is set back to 200.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

WAIT_SECONDS = 10.0


def _wait_until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The plain-text body (or the HTML one when that is all there is)."""
        body = self.message.get_body(preferencelist=("plain", "html"))
        assert body is not None, "the e-mail has no text body"
        return str(body.get_content()).replace("\r\n", "\n")


class SmtpReceiver:
    """A plain SMTP server (no TLS, no login) that keeps every message it accepts."""

    def __init__(self) -> None:
        self.mails: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._controller = _LoopbackController(self, hostname="127.0.0.1", port=0)

    @property
    def port(self) -> int:
        return self._controller.port

    def mailto_url(self, *, to: str = "crisis@example.test", sender: str = "firebreak@example.test") -> str:
        """Return the apprise URL that delivers to this server: plain SMTP on its port, no TLS, no login."""
        return f"mailto://127.0.0.1:{self.port}?{urlencode({'from': sender, 'to': to})}"

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[ReceivedMail]:
        _wait_until(lambda: len(self.mails) >= count, f"{count} e-mails (got {len(self.mails)})", timeout)
        with self._lock:
            return list(self.mails)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.mails.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted"


class _LoopbackController(Controller):
    """aiosmtpd's Controller, but with port 0: read the port the kernel chose before the self-test connects."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """Run an SmtpReceiver for the duration of the block."""
    receiver = SmtpReceiver()
    receiver._controller.start()
    try:
        yield receiver
    finally:
        receiver._controller.stop()


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server that records every request and answers with `status` (200 unless changed)."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server hook
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.status
                with receiver._lock:
                    receiver.requests.append(
                        ReceivedRequest(self.command, self.path, dict(self.headers.items()), body, status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST  # noqa: N815 - http.server hook

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def json_url(self, path: str = "/hook") -> str:
        """Return the apprise URL of a generic JSON webhook posting to `path` here."""
        return f"json://127.0.0.1:{self.port}{path}"

    def delivered(self) -> list[ReceivedRequest]:
        """Return the requests that were answered with success."""
        with self._lock:
            return [r for r in self.requests if r.status < 300]

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[ReceivedRequest]:
        _wait_until(lambda: len(self.requests) >= count, f"{count} requests (got {len(self.requests)})", timeout)
        with self._lock:
            return list(self.requests)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """Run a WebhookReceiver for the duration of the block."""
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver._server.serve_forever, kwargs={"poll_interval": 0.02},
                              name=f"webhook-{receiver.port}", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
        thread.join(WAIT_SECONDS)
