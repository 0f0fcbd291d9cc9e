"""Signed session cookies and the CSRF token that rides in them.

The cookie holds a small JSON payload (user id, CSRF token, issue time, a fingerprint of the password hash)
signed with HMAC-SHA256 from the standard library, so nothing is stored server-side and a password change
ends every other session. Sign-out clears the cookie; a copied cookie stays valid until it expires
(MAX_AGE), which is why the lifetime is a working day rather than weeks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from firebreak.settings import Settings

COOKIE_NAME = "firebreak_session"
MAX_AGE = 12 * 3600
SECRET_ENV = "FIREBREAK_SECRET_KEY"
SECRET_FILE = "secret_key"


@dataclass(frozen=True, slots=True)
class WebSession:
    """What a browser carries: who signed in (None before sign-in) and the token every form must echo."""

    csrf_token: str
    user_id: int | None = None
    password_mark: str = ""
    issued_at: float = 0.0

    @classmethod
    def anonymous(cls) -> WebSession:
        return cls(csrf_token=secrets.token_urlsafe(32), issued_at=time.time())

    def signed_in(self, user_id: int, password_hash: str | None) -> WebSession:
        """A fresh session for the user: a new CSRF token, so a token seen before sign-in is worthless after."""
        return WebSession(secrets.token_urlsafe(32), user_id, password_mark(password_hash), time.time())

    def with_password(self, password_hash: str | None) -> WebSession:
        return replace(self, password_mark=password_mark(password_hash))

    def csrf_matches(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(self.csrf_token, offered or "")


def password_mark(password_hash: str | None) -> str:
    """A short fingerprint of the password hash; it changes with the password and reveals nothing useful."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class SessionSigner:
    """Turns sessions into cookie values and back; a tampered, foreign or expired value reads as None."""

    def __init__(self, secret: str, *, max_age: int = MAX_AGE) -> None:
        if len(secret) < 32:
            raise ValueError(f"{SECRET_ENV} must be at least 32 characters")
        self._key = hashlib.sha256(b"firebreak-session:" + secret.encode()).digest()
        self.max_age = max_age

    def dumps(self, session: WebSession) -> str:
        payload = {"c": session.csrf_token, "u": session.user_id, "p": session.password_mark, "t": session.issued_at}
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def loads(self, value: str | None, *, now: float | None = None) -> WebSession | None:
        if not value or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = WebSession(str(payload["c"]), payload["u"], str(payload["p"]), float(payload["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if (now if now is not None else time.time()) - session.issued_at > self.max_age:
            return None
        return session

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def load_secret(settings: Settings) -> str:
    """The signing secret: FIREBREAK_SECRET_KEY when set, else one generated once and kept in the data folder
    (mode 0600) so sessions survive restarts."""
    configured = (settings.secret_key or "").strip()
    if configured:
        return configured
    path = Path(settings.data_dir) / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
    return secret


def cookie_is_secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")
