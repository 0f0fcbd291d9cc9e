"""Create users, grant roles in workspaces, and put people in teams; every change is audited."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, text
from sqlalchemy.orm import Session

from firebreak.accounts.models import ROLE_NAMES, Membership, TeamMember, User
from firebreak.audit import service as audit
from firebreak.core.errors import Conflict, InvalidInput, NotFound

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
MAX_NAME = 200
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


def check_password(password: str) -> str:
    """Return the password if it is long enough; short ones are guessed offline in minutes."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters", field="password")
    return password


def check_display_name(name: str) -> str:
    """Return the name trimmed, refusing one too long to store."""
    cleaned = name.strip()
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"a name has at most {MAX_NAME} characters", field="name")
    return cleaned


def hash_password(password: str) -> str:
    """Return an argon2id hash of a password long enough to keep (check_password)."""
    return _hasher.hash(check_password(password))


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
    user = User(email=address, display_name=check_display_name(display_name or "") or address.split("@")[0],
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
    active: bool = True


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
    return [MemberView(u.id, u.email, u.display_name, tuple(roles[u.id]), tuple(teams.get(u.id, ())), u.active)
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
    """Take the user out of a team; refused (nothing changes) when they are not in it."""
    removed = session.execute(delete(TeamMember).where(
        TeamMember.workspace_id == workspace_id, TeamMember.team == team, TeamMember.user_id == user.id))
    if not removed.rowcount:
        raise InvalidInput(f"{user.email} is not in team {team!r}", field="team")
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


# ---------------------------------------------------------------------------------------------- first run


def has_users(*, session: Session) -> bool:
    """Whether anyone has an account yet; the first-run set-up is open only while nobody has."""
    return session.scalar(select(User.id).limit(1)) is not None


def claim_first_user(*, session: Session) -> None:
    """Refuse (Conflict) unless the database has no users, holding that true until this transaction ends.

    Two first-run forms sent at once must not make two first admins: on PostgreSQL the users table is
    locked against other writers (SHARE ROW EXCLUSIVE conflicts with itself and with inserts); on SQLite
    the write transaction already holds the database's only write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))
    if has_users(session=session):
        raise Conflict("Firebreak is already set up: sign in, or ask an admin for an account")


# ---------------------------------------------------------------------------------------------- membership


GENERATED_PASSWORD_BYTES = 15  # 20 URL-safe characters, well above MIN_PASSWORD


def new_password() -> str:
    """Return a random initial password, for an admin to hand over once."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


@dataclass(frozen=True, slots=True)
class AddedMember:
    """Who was added, and whether the account is new (an existing account keeps its own password)."""

    user: User
    created: bool


def add_member(
    *, session: Session, workspace_id: int, email: str, role: str, display_name: str | None = None,
    password: str | None = None, actor: str = "system",
) -> AddedMember:
    """Make a person a member with `role`, creating their account (with `password`) if the e-mail is new.

    People work for several brands, so an e-mail that already has an account is granted the role and its
    password is left alone; someone already a member is refused, so a typo never silently changes roles.
    """
    check_role(role)
    address = normalise_email(email)
    user = session.scalar(select(User).where(User.email == address))
    created = user is None
    if user is None:
        if password is None:
            raise InvalidInput("a new account needs an initial password", field="password")
        user = create_user(session=session, email=address, display_name=(display_name or "").strip() or None,
                           password=password, actor=actor)
    elif roles_of(session=session, workspace_id=workspace_id, user_id=user.id):
        raise InvalidInput(f"{address} is already a member of this workspace; change their role instead",
                           field="email")
    grant_role(session=session, workspace_id=workspace_id, user=user, role=role, actor=actor)
    session.flush()
    return AddedMember(user, created)


def find_person(*, session: Session, workspace_id: int, user_id: int) -> User:
    """Return a user who is a member of the workspace or still holds a team place in it; anyone else is NotFound.

    Forms name people by user id: an id from another workspace must not even reveal whose it is.
    """
    here = or_(
        select(Membership.id).where(Membership.workspace_id == workspace_id, Membership.user_id == User.id).exists(),
        select(TeamMember.id).where(TeamMember.workspace_id == workspace_id, TeamMember.user_id == User.id).exists(),
    )
    user = session.scalar(select(User).where(User.id == user_id, here))
    if user is None:
        raise NotFound(f"user {user_id} is not a member of this workspace")
    return user


def _keep_an_admin(session: Session, workspace_id: int, user_id: int, doing: str) -> None:
    """Refuse a change that would leave the workspace without an active admin.

    The admin rows are locked on PostgreSQL, so two admins demoting each other at once cannot both succeed.
    """
    stmt = (select(Membership.user_id).join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id, Membership.role == "admin", User.active.is_(True)))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Membership)
    admins = set(session.scalars(stmt))
    if user_id in admins and len(admins) == 1:
        raise InvalidInput(f"cannot {doing}: they are the workspace's last admin; make someone else admin first",
                           field="role")


def _member(session: Session, workspace_id: int, user_id: int) -> tuple[User, frozenset[str]]:
    user = session.get(User, user_id)
    held = roles_of(session=session, workspace_id=workspace_id, user_id=user_id) if user is not None else frozenset()
    if user is None or not held:
        raise NotFound(f"user {user_id} is not a member of this workspace")
    return user, held


def set_roles(
    *, session: Session, workspace_id: int, user_id: int, roles: Iterable[str], actor: str = "system"
) -> frozenset[str]:
    """Give a member exactly `roles` (at least one: removing someone is remove_member); returns them."""
    wanted = frozenset(check_role(role) for role in roles)
    if not wanted:
        raise InvalidInput("choose at least one role; to take someone out of the workspace, remove them",
                           field="role")
    user, held = _member(session, workspace_id, user_id)
    if "admin" in held and "admin" not in wanted:
        _keep_an_admin(session, workspace_id, user.id, f"take the admin role from {user.email}")
    for role in sorted(held - wanted):
        revoke_role(session=session, workspace_id=workspace_id, user=user, role=role, actor=actor)
    for role in sorted(wanted - held):
        grant_role(session=session, workspace_id=workspace_id, user=user, role=role, actor=actor)
    return wanted


def remove_member(*, session: Session, workspace_id: int, user_id: int, actor: str = "system") -> User:
    """Take a person out of the workspace: every role and team place here goes; their account stays."""
    user, held = _member(session, workspace_id, user_id)
    if "admin" in held:
        _keep_an_admin(session, workspace_id, user.id, f"remove {user.email}")
    session.execute(delete(Membership).where(Membership.workspace_id == workspace_id, Membership.user_id == user.id))
    session.execute(delete(TeamMember).where(TeamMember.workspace_id == workspace_id, TeamMember.user_id == user.id))
    audit.record(session=session, workspace_id=workspace_id, actor=actor, action="user.removed", subject_type="user",
                 subject_id=user.id, details={"roles": sorted(held)})
    return user


def set_user_active(
    *, session: Session, workspace_id: int, user_id: int, active: bool, actor: str = "system"
) -> User:
    """Deactivate (no sign-in, no tokens, no new work) or reactivate a member's account.

    An account is shared by every workspace its owner works in, so a workspace's admin may only switch off
    someone who is a member of this workspace alone; otherwise they remove them from it instead.
    """
    user, held = _member(session, workspace_id, user_id)
    if user.active == active:
        return user
    elsewhere = session.scalar(select(Membership.workspace_id).where(
        Membership.user_id == user.id, Membership.workspace_id != workspace_id).limit(1))
    if elsewhere is not None:
        raise InvalidInput(f"{user.email} also works in other workspaces; remove them from this one instead",
                           field="user")
    if not active and "admin" in held:
        _keep_an_admin(session, workspace_id, user.id, f"deactivate {user.email}")
    user.active = active
    audit.record(session=session, workspace_id=workspace_id, actor=actor,
                 action="user.reactivated" if active else "user.deactivated", subject_type="user",
                 subject_id=user.id)
    return user
