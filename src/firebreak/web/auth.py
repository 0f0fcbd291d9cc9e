"""Who is signed in, sign-in with rate limiting, and the workspaces a user may open.

Failed sign-ins are counted per e-mail and per client address in this process's memory: enough to stop
password guessing against one server, but the counts reset on restart and are not shared between
several server processes (a shared store is a later increment).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as accounts
from firebreak.accounts.models import Membership, User
from firebreak.core.clock import utcnow
from firebreak.workspaces.models import Workspace

MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60


class FailedSignIns:
    """A sliding window of failed attempts per key ("email:..." or "ip:..."); thread-safe."""

    def __init__(self, *, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, keys: tuple[str, ...], *, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        with self._lock:
            return any(len(self._recent(key, moment)) >= self.limit for key in keys)

    def record(self, keys: tuple[str, ...], *, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        with self._lock:
            for key in keys:
                self._recent(key, moment).append(moment)

    def _recent(self, key: str, now: float) -> deque[float]:
        attempts = self._failures[key]
        while attempts and now - attempts[0] > self.window:
            attempts.popleft()
        return attempts


class SignInRefused(Exception):
    """A sign-in that failed, with the sentence to show on the form."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def sign_in(session: Session, limiter: FailedSignIns, *, email: str, password: str, client: str) -> User:
    """Return the user for correct credentials; any failure says the same thing, so it reveals no account."""
    address = email.strip().lower()
    keys = (f"email:{address}", f"ip:{client}")
    if limiter.blocked(keys):
        raise SignInRefused("Too many failed sign-ins. Wait 15 minutes and try again.", status=429)
    user = session.scalar(select(User).where(User.email == address))
    if user is None or not user.active:
        accounts.verify_password(User(email=address, display_name="", password_hash=None), password)
        limiter.record(keys)
        raise SignInRefused("That e-mail and password do not match an account.")
    if not accounts.verify_password(user, password):
        limiter.record(keys)
        raise SignInRefused("That e-mail and password do not match an account.")
    user.last_sign_in_at = utcnow()
    return user


def workspaces_of(session: Session, user_id: int) -> list[Workspace]:
    """The workspaces the user holds any role in, by name."""
    stmt = (select(Workspace).join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user_id).distinct().order_by(Workspace.name))
    return list(session.scalars(stmt))


def member_workspace(session: Session, user_id: int, slug: str) -> Workspace | None:
    """The workspace `slug` when the user is a member; None alike for unknown and foreign workspaces."""
    stmt = (select(Workspace).join(Membership, Membership.workspace_id == Workspace.id)
            .where(Workspace.slug == slug, Membership.user_id == user_id).limit(1))
    return session.scalar(stmt)
