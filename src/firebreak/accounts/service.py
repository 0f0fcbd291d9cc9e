"""Create users, grant roles in workspaces, and put people in teams; every change is audited."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from firebreak.accounts.models import ROLE_NAMES, Membership, TeamMember, User
from firebreak.audit import service as audit
from firebreak.core.errors import InvalidInput, NotFound

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


def normalise_email(email: str) -> str:
    """Return the e-mail trimmed and lower-cased, or raise naming the field."""
    cleaned = email.strip().lower()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise InvalidInput(f"{email!r} is not an e-mail address", field="email")
    return cleaned


def check_role(role: str) -> str:
    if role not in ROLE_NAMES:
        raise InvalidInput(f"unknown role {role!r}; roles are {', '.join(ROLE_NAMES)}", field="role")
    return role


def hash_password(password: str) -> str:
    """Return an argon2id hash; short passwords are refused because they are guessed offline in minutes."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters", field="password")
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    """Check a password in constant work whether or not the user has one."""
    if not user.password_hash:
        _hasher.hash(password)  # same cost as a real check, so timing does not reveal the account
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    *, session: Session, email: str, display_name: str | None = None, password: str | None = None,
    actor: str = "system",
) -> User:
    """Create a user; the e-mail must be unused."""
    address = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise InvalidInput(f"a user with e-mail {address!r} already exists", field="email")
    user = User(email=address, display_name=display_name or address.split("@")[0],
                password_hash=hash_password(password) if password is not None else None)
    session.add(user)
    session.flush()
    audit.record(session=session, workspace_id=None, actor=actor, action="user.created", subject_type="user",
                 subject_id=user.id, details={"email": address})
    return user


def get_user(*, session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"no user with e-mail {email!r}")
    return user


def users_by_email(*, session: Session, emails: Iterable[str]) -> dict[str, User]:
    """Return the users among `emails` that exist, keyed by normalised e-mail."""
    wanted = {e.strip().lower() for e in emails}
    if not wanted:
        return {}
    return {u.email: u for u in session.scalars(select(User).where(User.email.in_(wanted)))}


def grant_role(*, session: Session, workspace_id: int, user: User, role: str, actor: str = "system") -> None:
    """Give `user` a role in the workspace (granting one they have is a no-op)."""
    check_role(role)
    exists = session.scalar(select(Membership.id).where(
        Membership.workspace_id == workspace_id, Membership.user_id == user.id, Membership.role == role))
    if exists is None:
        session.add(Membership(workspace_id=workspace_id, user_id=user.id, role=role))
        audit.record(session=session, workspace_id=workspace_id, actor=actor, action="user.role_granted",
                     subject_type="user", subject_id=user.id, details={"role": role})


def revoke_role(*, session: Session, workspace_id: int, user: User, role: str, actor: str = "system") -> None:
    check_role(role)
    session.execute(delete(Membership).where(
        Membership.workspace_id == workspace_id, Membership.user_id == user.id, Membership.role == role))
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="user.role_revoked",
                 subject_type="user", subject_id=user.id, details={"role": role})


def roles_of(*, session: Session, workspace_id: int, user_id: int) -> frozenset[str]:
    """Return the user's roles in the workspace; empty means not a member."""
    return frozenset(session.scalars(select(Membership.role).where(
        Membership.workspace_id == workspace_id, Membership.user_id == user_id)))


@dataclass(frozen=True, slots=True)
class MemberView:
    user_id: int
    email: str
    display_name: str
    roles: tuple[str, ...]
    teams: tuple[str, ...]


def workspace_members(*, session: Session, workspace_id: int) -> list[MemberView]:
    """Every member of the workspace with their roles and teams, by e-mail."""
    roles: dict[int, list[str]] = {}
    for user_id, role in session.execute(select(Membership.user_id, Membership.role).where(
            Membership.workspace_id == workspace_id).order_by(Membership.role)):
        roles.setdefault(user_id, []).append(role)
    teams: dict[int, list[str]] = {}
    for user_id, team in session.execute(select(TeamMember.user_id, TeamMember.team).where(
            TeamMember.workspace_id == workspace_id).order_by(TeamMember.team)):
        teams.setdefault(user_id, []).append(team)
    if not roles:
        return []
    users = session.scalars(select(User).where(User.id.in_(roles)).order_by(User.email))
    return [MemberView(u.id, u.email, u.display_name, tuple(roles[u.id]), tuple(teams.get(u.id, ())))
            for u in users]


def join_team(
    *, session: Session, workspace_id: int, user: User, team: str, lead: bool = False, actor: str = "system"
) -> TeamMember:
    """Put a workspace member in a team (or update whether they lead it)."""
    if not roles_of(session=session, workspace_id=workspace_id, user_id=user.id):
        raise InvalidInput(f"{user.email} is not a member of this workspace; grant a role first", field="user")
    member = session.scalar(select(TeamMember).where(
        TeamMember.workspace_id == workspace_id, TeamMember.team == team, TeamMember.user_id == user.id))
    if member is None:
        member = TeamMember(workspace_id=workspace_id, team=team, user_id=user.id, is_lead=lead)
        session.add(member)
    elif member.is_lead == lead:
        return member
    else:
        member.is_lead = lead
    session.flush()
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="team.member_set",
                 subject_type="user", subject_id=user.id, details={"team": team, "lead": lead})
    return member


def leave_team(*, session: Session, workspace_id: int, user: User, team: str, actor: str = "system") -> None:
    session.execute(delete(TeamMember).where(
        TeamMember.workspace_id == workspace_id, TeamMember.team == team, TeamMember.user_id == user.id))
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="team.member_removed",
                 subject_type="user", subject_id=user.id, details={"team": team})


def set_available(
    *, session: Session, workspace_id: int, user: User, available: bool, actor: str = "system"
) -> int:
    """Mark the user on or off shift in every team of the workspace; returns how many teams changed."""
    members = list(session.scalars(select(TeamMember).where(
        TeamMember.workspace_id == workspace_id, TeamMember.user_id == user.id)))
    if not members:
        raise InvalidInput(f"{user.email} is in no team of this workspace", field="user")
    for member in members:
        member.available = available
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="team.availability_set",
                 subject_type="user", subject_id=user.id, details={"available": available})
    return len(members)
