"""Verify HMAC-SHA256 signatures on webhook deliveries.

A sender signs `"{timestamp}." + body` with the channel's secret and sends:

    X-Firebreak-Channel:   <channel slug>
    X-Firebreak-Timestamp: <unix seconds>
    X-Firebreak-Signature: sha256=<hex digest>

The timestamp bounds replays; idempotent ingest makes a replay within the window harmless.
"""

from __future__ import annotations

import hashlib
import hmac

from firebreak.core.errors import Unauthorized


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Return the signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    *, secret: str | None, timestamp: str | None, signature: str | None, body: bytes, now: float, tolerance: int
) -> None:
    """Raise Unauthorized unless the signature is valid and fresh."""
    if not secret:
        raise Unauthorized("this channel has no webhook secret; rotate one with `firebreak channel rotate-secret`")
    if not signature:
        raise Unauthorized("missing X-Firebreak-Signature header")
    if not timestamp:
        raise Unauthorized("missing X-Firebreak-Timestamp header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise Unauthorized("X-Firebreak-Timestamp must be integer unix seconds") from None
    if abs(now - sent_at) > tolerance:
        raise Unauthorized(f"X-Firebreak-Timestamp is more than {tolerance}s away from server time")
    if not signature.startswith("sha256="):
        raise Unauthorized("X-Firebreak-Signature must look like sha256=<hex>")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise Unauthorized("signature does not match the body and the channel's secret")
