"""`firebreak createuser`, `user` and `team` through the real CLI, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from firebreak.accounts import service as accounts_service
from firebreak.accounts.models import TeamMember, User
from firebreak.cli.main import app
from firebreak.core.clock import utcnow
from firebreak.playbook.loader import load_playbook
from firebreak.routing import on_call_at
from firebreak.settings import get_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[type-arg]
    """Run `firebreak ARGS` against this test's database; returns the click Result."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    env = {"FIREBREAK_DATABASE_URL": database_url, "FIREBREAK_DATA_DIR": str(tmp_path)}

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]  # noqa: A002 - click's name
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args), env=env, input=input)

    yield run
    get_settings.cache_clear()


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.output


def refused(result, *phrases: str, code: int = 2) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, result.output
    for phrase in phrases:
        assert phrase in result.output
    return result.output


def users(db) -> int:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(User))


def roles(db, ws, email: str) -> set[str]:  # type: ignore[no-untyped-def]
    with db.read() as session:
        user = accounts_service.get_user(session=session, email=email)
        return set(accounts_service.roles_of(session=session, workspace_id=ws.id, user_id=user.id))


@pytest.fixture
def people(cli, acme):  # type: ignore[no-untyped-def]
    """ana (lead), bob (agent) in acme; zoe exists but belongs to no workspace."""
    ok(cli("createuser", "ana@example.com", "--password-stdin", "-w", "acme", "--role", "lead", input=PASSWORD))
    ok(cli("createuser", "bob@example.com", "--password-stdin", "-w", "acme", "--role", "agent", input=PASSWORD))
    ok(cli("user", "add", "zoe@example.com", "--password-stdin", input=PASSWORD))


def test_createuser_makes_the_first_admin_with_an_argon2_password(cli, db, acme):
    output = ok(cli("createuser", "Admin@Example.com", "--name", "Ada", "--password-stdin", "--workspace", "acme",
                    "--role", "admin", input=PASSWORD + "\n"))
    assert "Created user admin@example.com" in output and "Granted admin in acme." in output
    with db.read() as session:
        user = accounts_service.get_user(session=session, email="admin@example.com")
        assert user.display_name == "Ada"
        assert user.password_hash.startswith("$argon2id$")
        assert accounts_service.verify_password(user, PASSWORD)
        assert not accounts_service.verify_password(user, PASSWORD + "!")
    assert roles(db, acme, "admin@example.com") == {"admin"}


def test_user_add_prompts_for_the_password_twice(cli, db):
    output = ok(cli("user", "add", "carl@example.com", input=f"{PASSWORD}\n{PASSWORD}\n"))
    assert "Created user carl@example.com" in output
    with db.read() as session:
        assert accounts_service.verify_password(accounts_service.get_user(session=session, email="carl@example.com"),
                                                PASSWORD)


@pytest.mark.parametrize(
    ("args", "stdin", "phrases"),
    [
        (["not-an-email"], PASSWORD, ["'not-an-email' is not an e-mail address"]),
        (["x@example.com"], "short", ["a password needs at least 10 characters"]),
        (["x@example.com", "-w", "acme", "--role", "wizard"], PASSWORD, ["unknown role 'wizard'", "roles are agent"]),
        (["x@example.com", "--role", "admin"], PASSWORD, ["--role needs --workspace"]),
        (["x@example.com", "-w", "acme"], PASSWORD, ["--workspace needs at least one --role"]),
        (["x@example.com", "-w", "nowhere", "--role", "admin"], PASSWORD, ["workspace 'nowhere' does not exist"]),
    ],
)
def test_createuser_refusals_create_nothing(cli, db, acme, args, stdin, phrases):
    refused(cli("createuser", *args, "--password-stdin", input=stdin), *phrases)
    assert users(db) == 0


def test_a_second_user_with_the_same_email_is_refused(cli, db, people):
    refused(cli("user", "add", "ANA@example.com", "--password-stdin", input=PASSWORD),
            "a user with e-mail 'ana@example.com' already exists")
    assert users(db) == 3


def test_grant_revoke_and_list(cli, db, acme, people):
    output = ok(cli("user", "grant", "bob@example.com", "-w", "acme", "--role", "lead", "--role", "communications"))
    assert "bob@example.com now holds agent, communications, lead in acme." in output
    assert roles(db, acme, "bob@example.com") == {"agent", "lead", "communications"}
    ok(cli("team", "join", "bob@example.com", "-w", "acme", "--team", "care"))

    listing = ok(cli("user", "list", "-w", "acme"))
    assert "ana@example.com" in listing and "bob@example.com" in listing and "zoe@example.com" not in listing
    assert "agent, communications, lead" in listing and "care" in listing

    refused(cli("user", "revoke", "bob@example.com", "-w", "acme", "--role", "legal"),
            "bob@example.com does not hold legal in acme (they hold agent, communications, lead)")
    output = ok(cli("user", "revoke", "bob@example.com", "-w", "acme", "--role", "lead", "--role", "communications"))
    assert "bob@example.com now holds agent in acme." in output
    output = ok(cli("user", "revoke", "bob@example.com", "-w", "acme", "--role", "agent"))
    assert "no longer a member" in output and "still listed in team(s) care" in output
    assert roles(db, acme, "bob@example.com") == set()


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["bob@example.com", "-w", "acme", "--role", "boss"], ["unknown role 'boss'"]),
        (["nobody@example.com", "-w", "acme", "--role", "agent"], ["no user with e-mail 'nobody@example.com'"]),
        (["bob@example.com", "-w", "nowhere", "--role", "agent"], ["workspace 'nowhere' does not exist"]),
    ],
)
def test_grant_refusals(cli, db, acme, people, args, phrases):
    refused(cli("user", "grant", *args), *phrases)
    assert roles(db, acme, "bob@example.com") == {"agent"}


def test_user_list_of_an_empty_workspace_says_how_to_add_someone(cli, acme):
    assert "firebreak user grant EMAIL -w acme --role ROLE" in ok(cli("user", "list", "-w", "acme"))


def test_team_join_leave_away_back(cli, db, acme, people):
    ok(cli("team", "join", "bob@example.com", "-w", "acme", "--team", "care"))
    assert "ana@example.com is in team crisis as its lead." in ok(
        cli("team", "join", "ana@example.com", "-w", "acme", "--team", "crisis", "--lead"))
    ok(cli("team", "join", "ana@example.com", "-w", "acme", "--team", "care"))

    assert "bob@example.com is away (no new work) in 1 team(s) of acme." in ok(
        cli("team", "away", "bob@example.com", "-w", "acme"))
    with db.read() as session:
        shifts = dict(session.execute(select(User.email, TeamMember.available).join(User)
                                      .where(TeamMember.team == "care")).all())
    assert shifts == {"ana@example.com": True, "bob@example.com": False}
    assert "back on shift in 1 team(s)" in ok(cli("team", "back", "bob@example.com", "-w", "acme"))

    ok(cli("team", "leave", "ana@example.com", "-w", "acme", "--team", "care"))
    refused(cli("team", "leave", "ana@example.com", "-w", "acme", "--team", "care"),
            "ana@example.com is not in team 'care' (their teams: crisis)")
    with db.read() as session:
        assert set(session.execute(select(TeamMember.team, TeamMember.is_lead)).all()) == {("care", False),
                                                                                            ("crisis", True)}


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        (["join", "bob@example.com", "-w", "acme", "--team", "night_shift"],
         ["unknown team 'night_shift'", "are care, crisis"]),
        (["join", "zoe@example.com", "-w", "acme", "--team", "care"],
         ["zoe@example.com is not a member of this workspace; grant a role first"]),
        (["away", "bob@example.com", "-w", "acme"], ["bob@example.com is in no team of this workspace"]),
        (["join", "ghost@example.com", "-w", "acme", "--team", "care"], ["no user with e-mail 'ghost@example.com'"]),
    ],
)
def test_team_refusals(cli, db, acme, people, command, phrases):
    refused(cli("team", *command), *phrases)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(TeamMember)) == 0


def test_team_list_shows_teams_queues_members_shift_and_on_call(cli, acme, people):
    ok(cli("team", "join", "ana@example.com", "-w", "acme", "--team", "crisis", "--lead"))
    ok(cli("team", "join", "bob@example.com", "-w", "acme", "--team", "care"))
    ok(cli("team", "away", "bob@example.com", "-w", "acme"))
    output = ok(cli("team", "list", "-w", "acme"))
    crisis = next(team for team in load_playbook().playbook.teams if team.id == "crisis")
    assert f"on call now: {on_call_at(crisis.on_call, utcnow())}" in output
    assert "queue escalations: least-loaded, outside hours on-call" in output
    assert "queue care_general: round-robin, outside hours hold" in output
    assert "calendar support_hours" in output and "calendar always (open now)" in output
    care, crisis_part = output.split("crisis Crisis desk")
    assert "bob@example.com" in care and "away" in care
    assert "ana@example.com" in crisis_part and "lead" in crisis_part


def test_team_list_of_a_team_without_members_says_how_to_join(cli, acme):
    assert "no members: firebreak team join EMAIL -w acme --team care" in ok(cli("team", "list", "-w", "acme"))
