"""Membership changes the settings pages make: add, change roles, remove, deactivate, the first run; both databases."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from firebreak.accounts import service as accounts
from firebreak.accounts.models import Membership, TeamMember, User
from firebreak.core.errors import Conflict, InvalidInput, NotFound
from firebreak.workspaces import service as workspace_service

PASSWORD = "correct horse battery"


def _user(db, email: str, roles_by_workspace: dict[int, list[str]], *, teams: dict[int, list[str]] | None = None):  # type: ignore[no-untyped-def]
    with db.write() as session:
        user = accounts.create_user(session=session, email=email, password=PASSWORD)
        for workspace_id, roles in roles_by_workspace.items():
            for role in roles:
                accounts.grant_role(session=session, workspace_id=workspace_id, user=user, role=role)
        session.flush()
        for workspace_id, names in (teams or {}).items():
            for team in names:
                accounts.join_team(session=session, workspace_id=workspace_id, user=user, team=team)
        return user.id


def _roles(db, workspace_id: int, user_id: int) -> frozenset[str]:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return accounts.roles_of(session=session, workspace_id=workspace_id, user_id=user_id)


def test_add_member_creates_an_account_or_grants_an_existing_one(db, acme, globex):  # type: ignore[no-untyped-def]
    gus = _user(db, "gus@globex.test", {globex.id: ["agent"]})
    with db.write() as session:
        added = accounts.add_member(session=session, workspace_id=acme.id, email=" New@Acme.TEST ", role="agent",
                                    display_name="Nia", password=PASSWORD)
        assert added.created and added.user.email == "new@acme.test" and added.user.display_name == "Nia"
        again = accounts.add_member(session=session, workspace_id=acme.id, email="gus@globex.test", role="lead",
                                    password="another password here")
        assert not again.created and again.user.id == gus
    with db.read() as session:
        gus_user = session.get(User, gus)
        assert accounts.verify_password(gus_user, PASSWORD), "an existing account keeps its own password"
    assert _roles(db, acme.id, gus) == {"lead"} and _roles(db, globex.id, gus) == {"agent"}

    with db.write() as session, pytest.raises(InvalidInput, match="already a member") as refused:
        accounts.add_member(session=session, workspace_id=acme.id, email="gus@globex.test", role="admin")
    assert refused.value.field == "email"
    with db.write() as session, pytest.raises(InvalidInput, match="initial password"):
        accounts.add_member(session=session, workspace_id=acme.id, email="nobody@acme.test", role="agent")
    with db.write() as session, pytest.raises(InvalidInput, match="unknown role"):
        accounts.add_member(session=session, workspace_id=acme.id, email="x@acme.test", role="owner",
                            password=PASSWORD)
    with db.write() as session, pytest.raises(InvalidInput, match="at least 10"):
        accounts.add_member(session=session, workspace_id=acme.id, email="x@acme.test", role="agent", password="short")
    assert _roles(db, acme.id, gus) == {"lead"}
    with db.read() as session:
        assert session.scalar(select(User.id).where(User.email == "x@acme.test")) is None


def test_set_roles_keeps_an_admin(db, acme):  # type: ignore[no-untyped-def]
    ada = _user(db, "ada@acme.test", {acme.id: ["admin"]})
    ana = _user(db, "ana@acme.test", {acme.id: ["agent"]})
    with db.write() as session:
        assert accounts.set_roles(session=session, workspace_id=acme.id, user_id=ana,
                                  roles=["lead", "communications"]) == {"lead", "communications"}
    assert _roles(db, acme.id, ana) == {"lead", "communications"}
    with db.write() as session, pytest.raises(InvalidInput, match="last admin"):
        accounts.set_roles(session=session, workspace_id=acme.id, user_id=ada, roles=["agent"])
    with db.write() as session, pytest.raises(InvalidInput, match="at least one role"):
        accounts.set_roles(session=session, workspace_id=acme.id, user_id=ana, roles=[])
    assert _roles(db, acme.id, ada) == {"admin"}

    with db.write() as session:
        accounts.set_roles(session=session, workspace_id=acme.id, user_id=ana, roles=["admin"])
        accounts.set_roles(session=session, workspace_id=acme.id, user_id=ada, roles=["agent", "legal"])
    assert _roles(db, acme.id, ada) == {"agent", "legal"} and _roles(db, acme.id, ana) == {"admin"}


def test_an_inactive_admin_does_not_count_as_the_other_admin(db, acme):  # type: ignore[no-untyped-def]
    ada = _user(db, "ada@acme.test", {acme.id: ["admin"]})
    old = _user(db, "old@acme.test", {acme.id: ["admin"]})
    with db.write() as session:
        accounts.set_user_active(session=session, workspace_id=acme.id, user_id=old, active=False)
    with db.write() as session, pytest.raises(InvalidInput, match="last admin"):
        accounts.remove_member(session=session, workspace_id=acme.id, user_id=ada)


def test_remove_member_takes_roles_and_team_places_but_keeps_the_account(db, acme, globex):  # type: ignore[no-untyped-def]
    ada = _user(db, "ada@acme.test", {acme.id: ["admin"]})
    ana = _user(db, "ana@acme.test", {acme.id: ["agent", "lead"], globex.id: ["agent"]}, teams={acme.id: ["care"]})
    with db.write() as session:
        accounts.remove_member(session=session, workspace_id=acme.id, user_id=ana)
    assert _roles(db, acme.id, ana) == frozenset() and _roles(db, globex.id, ana) == {"agent"}
    with db.read() as session:
        assert session.scalars(select(TeamMember.id).where(TeamMember.user_id == ana)).all() == []
        assert session.get(User, ana).active
    with db.write() as session, pytest.raises(InvalidInput, match="last admin"):
        accounts.remove_member(session=session, workspace_id=acme.id, user_id=ada)
    with db.write() as session, pytest.raises(Exception, match="not a member"):
        accounts.remove_member(session=session, workspace_id=acme.id, user_id=ana)


def test_deactivate_only_people_who_work_here_alone(db, acme, globex):  # type: ignore[no-untyped-def]
    ada = _user(db, "ada@acme.test", {acme.id: ["admin"]})
    ana = _user(db, "ana@acme.test", {acme.id: ["agent"]})
    gus = _user(db, "gus@globex.test", {acme.id: ["agent"], globex.id: ["agent"]})
    with db.write() as session:
        assert not accounts.set_user_active(session=session, workspace_id=acme.id, user_id=ana, active=False).active
    with db.write() as session, pytest.raises(InvalidInput, match="other workspaces"):
        accounts.set_user_active(session=session, workspace_id=acme.id, user_id=gus, active=False)
    with db.write() as session, pytest.raises(InvalidInput, match="last admin"):
        accounts.set_user_active(session=session, workspace_id=acme.id, user_id=ada, active=False)
    with db.write() as session, pytest.raises(Exception, match="not a member"):
        accounts.set_user_active(session=session, workspace_id=globex.id, user_id=ana, active=True)
    with db.read() as session:
        members = {m.email: m.active for m in accounts.workspace_members(session=session, workspace_id=acme.id)}
    assert members == {"ada@acme.test": True, "ana@acme.test": False, "gus@globex.test": True}
    with db.write() as session:
        assert accounts.set_user_active(session=session, workspace_id=acme.id, user_id=ana, active=True).active


def test_two_admins_demoting_each_other_at_once_leave_one_admin(db, acme):  # type: ignore[no-untyped-def]
    ada = _user(db, "ada@acme.test", {acme.id: ["admin"]})
    bob = _user(db, "bob@acme.test", {acme.id: ["admin"]})
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(user_id: int) -> None:
        barrier.wait()
        try:
            with db.write() as session:
                accounts.set_roles(session=session, workspace_id=acme.id, user_id=user_id, roles=["agent"])
            outcomes.append("done")
        except InvalidInput:
            outcomes.append("refused")

    threads = [threading.Thread(target=demote, args=(user_id,)) for user_id in (ada, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["done", "refused"]
    with db.read() as session:
        admins = session.scalars(select(Membership.user_id).where(Membership.workspace_id == acme.id,
                                                                  Membership.role == "admin")).all()
    assert len(admins) == 1


def test_claim_first_user_only_while_nobody_has_an_account(db):  # type: ignore[no-untyped-def]
    with db.read() as session:
        assert not accounts.has_users(session=session)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def first_run(email: str) -> None:
        barrier.wait()
        try:
            with db.write() as session:
                accounts.claim_first_user(session=session)
                accounts.create_user(session=session, email=email, password=PASSWORD)
            outcomes.append("created")
        except Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=first_run, args=(f"admin{n}@acme.test",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused"]
    with db.read() as session:
        assert accounts.has_users(session=session)
        assert len(session.scalars(select(User.id)).all()) == 1
    with db.write() as session, pytest.raises(Conflict, match="already set up"):
        accounts.claim_first_user(session=session)


def test_list_tokens_newest_first_with_revoked_ones(db, acme, globex):  # type: ignore[no-untyped-def]
    with db.write() as session:
        token, _ = workspace_service.create_token(session=session, workspace_id=acme.id, name="zapier",
                                                  scopes=["mentions:write"])
        workspace_service.revoke_token(session=session, workspace_id=acme.id, token_id=token.id, actor="t")
    with db.read() as session:
        listed = workspace_service.list_tokens(session=session, workspace_id=acme.id)
    assert [t.name for t in listed] == ["zapier", "admin", "reader"]
    assert listed[0].revoked_at is not None and all(t.workspace_id == acme.id for t in listed)


def test_names_and_scopes_are_checked_before_anything_is_stored(db, acme):  # type: ignore[no-untyped-def]
    from firebreak.channels import service as channel_service

    with db.write() as session, pytest.raises(InvalidInput, match="at most 200") as refused:
        accounts.create_user(session=session, email="long@acme.test", display_name="n" * 201, password=PASSWORD)
    assert refused.value.field == "name"
    with db.write() as session, pytest.raises(InvalidInput, match="1 to 200"):
        workspace_service.create_workspace(session=session, slug="blank", name="   ")
    with db.write() as session, pytest.raises(InvalidInput, match="1 to 200"):
        channel_service.create_channel(session=session, workspace_id=acme.id, slug="long", kind="x", name="c" * 201)
    with db.write() as session, pytest.raises(InvalidInput, match="at least one scope") as refused:
        workspace_service.create_token(session=session, workspace_id=acme.id, name="empty", scopes=[])
    assert refused.value.field == "scopes"
    with db.write() as session:
        user = accounts.create_user(session=session, email="trim@acme.test", display_name="  Tia  ")
        workspace = workspace_service.create_workspace(session=session, slug="trimmed", name="  Trimmed Co ")
        assert (user.display_name, workspace.name) == ("Tia", "Trimmed Co")
    with db.read() as session:
        assert session.scalar(select(User.id).where(User.email == "long@acme.test")) is None


def test_people_are_found_only_in_their_own_workspace(db, acme, globex):  # type: ignore[no-untyped-def]
    ana = _user(db, "ana@acme.test", {acme.id: ["agent"]}, teams={acme.id: ["care"]})
    gus = _user(db, "gus@globex.test", {globex.id: ["agent"]})
    with db.read() as session:
        assert accounts.find_person(session=session, workspace_id=acme.id, user_id=ana).email == "ana@acme.test"
        with pytest.raises(NotFound) as missing:
            accounts.find_person(session=session, workspace_id=acme.id, user_id=gus)
        assert "gus" not in str(missing.value), "an id from elsewhere does not say whose it is"
    with db.write() as session:  # revoked on the command line, still listed in a team: found, so it can be cleaned up
        user = session.get(User, ana)
        accounts.revoke_role(session=session, workspace_id=acme.id, user=user, role="agent")
    with db.read() as session:
        assert accounts.find_person(session=session, workspace_id=acme.id, user_id=ana).id == ana


def test_leaving_a_team_one_is_not_in_is_refused_and_changes_nothing(db, acme):  # type: ignore[no-untyped-def]
    from firebreak.audit.models import AuditEntry

    ana = _user(db, "ana@acme.test", {acme.id: ["agent"]}, teams={acme.id: ["care"]})
    with db.read() as session:
        audited = session.scalar(select(func.count()).select_from(AuditEntry))
    with db.write() as session, pytest.raises(InvalidInput, match="not in team 'crisis'"):
        accounts.leave_team(session=session, workspace_id=acme.id, user=session.get(User, ana), team="crisis")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audited
    with db.write() as session:
        accounts.leave_team(session=session, workspace_id=acme.id, user=session.get(User, ana), team="care")
    with db.read() as session:
        assert session.scalars(select(TeamMember.id).where(TeamMember.user_id == ana)).all() == []
