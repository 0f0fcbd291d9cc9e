"""How an outbox message leaves Firebreak: the connector seam, and the webhook connector behind it.

A connector sends one message and returns the id the network gave it. It gets the message's
idempotency key and must pass it on, so a message sent again after a crash (the dispatcher died
between sending and recording) is recognised by the receiver and not posted twice. Failures raise
`ConnectorError(permanent=...)`: permanent means retrying cannot help until a person changes something.

The webhook connector is the one every channel can use until the native network connectors exist:
it POSTs the message as JSON to the channel's `config["outbound_url"]` (a bridge the brand runs),
signed exactly like inbound webhooks, with the channel's webhook secret:

    POST <outbound_url>
    Content-Type:          application/json
    Idempotency-Key:       publication:4:channel:2
    X-Firebreak-Channel:   x-main
    X-Firebreak-Timestamp: 1795165200
    X-Firebreak-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}." + body>

    {"kind": "reply", "body": "...", "link": "https://...", "in_reply_to": "1861234567",
     "conversation_id": "1861230000", "idempotency_key": "publication:4:reply:2:1861230000",
     "channel": "x-main"}

The receiver answers 2xx with `{"id": "<the post's id on the network>"}`, and the same answer again
for a key it has seen. 408, 429 and 5xx are retried (honouring Retry-After); any other 4xx, a
redirect, or a 2xx without an id is permanent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from firebreak.channels.models import Channel
from firebreak.core.clock import Clock, SystemClock
from firebreak.core.errors import ConnectorError
from firebreak.mentions.webhook import sign

OUTBOUND_URL = "outbound_url"
# Longest answer text quoted in an error: enough to read the receiver's reason, not a whole HTML page.
_QUOTE_MAX = 300


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a connector sends: the text, what it answers (for a reply), and the key that makes it unique."""

    kind: str  # post | reply
    body: str
    link: str | None
    in_reply_to: str | None
    conversation_id: str | None
    idempotency_key: str
    channel: str  # the channel's slug


@dataclass(frozen=True, slots=True)
class OutboundChannel:
    """What sending needs to know about a channel, read before the send (no session is open then)."""

    id: int
    slug: str
    active: bool
    outbound_url: str | None
    secret: str | None

    @classmethod
    def of(cls, channel: Channel) -> OutboundChannel:
        url = (channel.config or {}).get(OUTBOUND_URL)
        return cls(channel.id, channel.slug, channel.active, url if isinstance(url, str) else None,
                   channel.webhook_secret)


class SendFailed(ConnectorError):
    """A send failed; carries the receiver's status (if it answered) and the pause it asked for (if any)."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, permanent=permanent)
        self.status = status
        self.retry_after = retry_after


class Connector(Protocol):
    """Sends outbox messages to one channel."""

    def send(self, message: OutgoingMessage) -> str:
        """Send `message`, passing its idempotency key on; return the id the network gave the post."""
        ...


def check_outbound_url(url: str) -> str:
    """Return `url` if a webhook connector can post to it (absolute http or https), else raise ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the outbound URL must be an absolute http(s) URL, got {url!r}")
    return url


def cannot_send(channel: OutboundChannel) -> str | None:
    """Say why nothing can be sent to the channel, or None when it can take messages."""
    if not channel.active:
        return f"channel {channel.slug!r} is inactive"
    if not channel.outbound_url:
        return (f"channel {channel.slug!r} has no outbound connector: set its {OUTBOUND_URL} "
                f"(`firebreak outbox connect {channel.slug} --url ...`)")
    try:
        check_outbound_url(channel.outbound_url)
    except ValueError as exc:
        return f"channel {channel.slug!r}: {exc}"
    if not channel.secret:
        return f"channel {channel.slug!r} has no webhook secret to sign with; rotate one"
    return None


class WebhookConnector:
    """POSTs signed JSON to the channel's outbound URL (see the module docstring for the protocol)."""

    def __init__(self, channel: OutboundChannel, *, timeout: float, clock: Clock | None = None) -> None:
        reason = cannot_send(channel)
        if reason is not None:
            raise ConnectorError(reason, permanent=True)
        assert channel.outbound_url is not None and channel.secret is not None  # checked just above
        self._url = channel.outbound_url
        self._secret = channel.secret
        self._slug = channel.slug
        self._timeout = timeout
        self._clock = clock or SystemClock()

    def send(self, message: OutgoingMessage) -> str:
        body = json.dumps({
            "kind": message.kind, "body": message.body, "link": message.link, "in_reply_to": message.in_reply_to,
            "conversation_id": message.conversation_id, "idempotency_key": message.idempotency_key,
            "channel": message.channel,
        }, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.idempotency_key,
            "X-Firebreak-Channel": self._slug,
            "X-Firebreak-Timestamp": str(timestamp),
            "X-Firebreak-Signature": sign(self._secret, timestamp, body),
        }
        try:
            response = httpx.post(self._url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            # It may have been posted; sending again with the same key is what makes that harmless.
            raise SendFailed(f"the receiver did not answer within {self._timeout:g}s", permanent=False) from None
        except httpx.HTTPError as exc:
            raise SendFailed(f"cannot reach the receiver: {type(exc).__name__}: {exc}", permanent=False) from None
        return _remote_id(response, now=self._clock.now().timestamp())


def _remote_id(response: httpx.Response, *, now: float) -> str:
    status = response.status_code
    if 200 <= status < 300:
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        remote_id = answer.get("id") if isinstance(answer, dict) else None
        if isinstance(remote_id, (str, int)) and not isinstance(remote_id, bool) and str(remote_id):
            return str(remote_id)
        raise SendFailed(f'the receiver answered {status} without a JSON {{"id": ...}}; the protocol needs the '
                         f"post's id: {_quote(response)}", permanent=True, status=status)
    if status in (408, 429) or status >= 500:
        raise SendFailed(f"the receiver answered {status}: {_quote(response)}", permanent=False, status=status,
                         retry_after=_retry_after(response.headers.get("Retry-After"), now=now))
    if 300 <= status < 400:
        where = response.headers.get("Location", "elsewhere")
        raise SendFailed(f"the receiver redirected ({status}) to {where}; set the outbound URL to the final address",
                         permanent=True, status=status)
    raise SendFailed(f"the receiver refused the message ({status}): {_quote(response)}", permanent=True,
                     status=status)


def _quote(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    if not text:
        return "(empty answer)"
    return text if len(text) <= _QUOTE_MAX else text[:_QUOTE_MAX - 1] + "…"


def _retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
