"""Create and look up workspaces and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.core.clock import utcnow
from firebreak.core.errors import InvalidInput, NotFound, Unauthorized
from firebreak.workspaces.models import ApiToken, Workspace

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TOKEN_PREFIX = "fbk_"
MAX_NAME = 200
SCOPES = frozenset({"mentions:read", "mentions:write", "workflow:write", "admin"})


def check_slug(slug: str, *, what: str = "slug") -> str:
    """Return `slug` if it is lowercase letters, digits and dashes, else raise naming the rule."""
    if not SLUG_RE.match(slug):
        raise InvalidInput(f"{slug!r} is not a valid {what}: use 1-63 lowercase letters, digits and dashes", field=what)
    return slug


def check_name(name: str, *, field: str = "name") -> str:
    """Return a display name trimmed, refusing an empty one or one too long to store."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        raise InvalidInput(f"a name needs 1 to {MAX_NAME} characters", field=field)
    return cleaned


def create_workspace(*, session: Session, slug: str, name: str, actor: str = "system") -> Workspace:
    """Create a workspace; its slug must be unused."""
    check_slug(slug, what="workspace")
    name = check_name(name)
    if session.scalar(select(Workspace.id).where(Workspace.slug == slug)) is not None:
        raise InvalidInput(f"workspace {slug!r} already exists", field="workspace")
    workspace = Workspace(slug=slug, name=name)
    session.add(workspace)
    session.flush()
    audit.record(
        session=session,
        workspace_id=workspace.id,
        actor=actor,
        action="workspace.created",
        subject_type="workspace",
        subject_id=workspace.id,
        details={"slug": slug, "name": name},
    )
    return workspace


def get_workspace(*, session: Session, slug: str) -> Workspace:
    """Return the workspace with this slug or raise NotFound."""
    workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is None:
        raise NotFound(f"workspace {slug!r} does not exist")
    return workspace


def list_workspaces(*, session: Session) -> list[Workspace]:
    """Return every workspace, by slug."""
    return list(session.scalars(select(Workspace).order_by(Workspace.slug)))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a verified token may do, and where."""

    token_id: int
    workspace_id: int
    scopes: frozenset[str]
    name: str
    # Set for a personal token: it acts as this user, with the user's roles.
    user_id: int | None = None


def create_token(
    *, session: Session, workspace_id: int, name: str, scopes: list[str], actor: str = "system",
    user_id: int | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token and return it with its secret, which is shown once and never stored."""
    name = check_name(name)
    if not scopes:
        raise InvalidInput(f"a token needs at least one scope; known: {', '.join(sorted(SCOPES))}", field="scopes")
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise InvalidInput(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(SCOPES))}", field="scopes")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        workspace_id=workspace_id, name=name, token_hash=_hash(secret), prefix=secret[:10], scopes=sorted(set(scopes)),
        user_id=user_id,
    )
    session.add(token)
    session.flush()
    audit.record(
        session=session,
        workspace_id=workspace_id,
        actor=actor,
        action="token.created",
        subject_type="api_token",
        subject_id=token.id,
        details={"name": name, "scopes": token.scopes, "user_id": user_id},
    )
    return token, secret


def verify_token(*, session: Session, secret: str) -> TokenGrant:
    """Return the grant of a live token or raise Unauthorized."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("invalid or revoked API token")
    return TokenGrant(token.id, token.workspace_id, frozenset(token.scopes), token.name, token.user_id)


def revoke_token(*, session: Session, workspace_id: int, token_id: int, actor: str) -> None:
    """Revoke a token of the workspace."""
    token = session.scalar(select(ApiToken).where(ApiToken.workspace_id == workspace_id, ApiToken.id == token_id))
    if token is None:
        raise NotFound(f"token {token_id} does not exist in this workspace")
    token.revoked_at = utcnow()
    audit.record(
        session=session,
        workspace_id=workspace_id,
        actor=actor,
        action="token.revoked",
        subject_type="api_token",
        subject_id=token_id,
    )


def list_tokens(*, session: Session, workspace_id: int) -> list[ApiToken]:
    """Return the workspace's tokens, newest first, revoked ones included (their hashes are never shown)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.workspace_id == workspace_id)
                                .order_by(ApiToken.id.desc())))
