"""`firebreak work`, `sla`, `alerts` and `playbook` through the real CLI, on both databases.

Mentions go through the real pipeline (`firebreak pipeline run`), so the work items, clocks and alerts
the commands show are the ones the product makes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from firebreak.accounts import service as accounts_service
from firebreak.cli.main import app
from firebreak.core.clock import utcnow
from firebreak.notify.models import Alert
from firebreak.playbook.models import PlaybookVersion
from firebreak.settings import get_settings
from firebreak.workflow.models import SlaClock, SlaEvent, WorkItem
from tests.factories import ingest, mention
from tests.notify_support import webhook_receiver

RED = "see you in court @acme"
YELLOW = "Can I get a refund for the delayed flight?"
GREEN = "Thank you for the amazing service today!"
DEFAULT_YAML = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[type-arg]
    """Run `firebreak ARGS` against this test's database; extra environment variables as keywords."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    monkeypatch.delenv("FIREBREAK_ALERT_CRISIS_URL", raising=False)
    base = {"FIREBREAK_DATABASE_URL": database_url, "FIREBREAK_DATA_DIR": str(tmp_path)}

    def run(*args: str, **env: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args), env={**base, **env})

    yield run
    get_settings.cache_clear()


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.output


def refused(result, *phrases: str, code: int = 2) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, result.output
    for phrase in phrases:
        assert phrase in result.output, result.output
    return result.output


@pytest.fixture
def ids(cli, db, acme) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """acme with ana (lead), bob (agent) in team care, lee (legal), zoe (no workspace), and three
    processed mentions: red, yellow and green; returns their mention ids by flag."""
    with db.write() as session:
        for email, role in (("ana@example.com", "lead"), ("bob@example.com", "agent"), ("lee@example.com", "legal"),
                            ("zoe@example.com", None)):
            user = accounts_service.create_user(session=session, email=email)
            if role:
                accounts_service.grant_role(session=session, workspace_id=acme.id, user=user, role=role)
    ok(cli("team", "join", "bob@example.com", "-w", "acme", "--team", "care"))
    stored = ingest(db, acme, [mention(1, GREEN), mention(2, YELLOW), mention(3, RED)])
    assert "Processed 3 mention(s)." in ok(cli("pipeline", "run"))
    return dict(zip(("green", "yellow", "red"), stored.ids, strict=True))


def item(db, mention_id: int) -> WorkItem:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return session.get(WorkItem, mention_id)


def queue_order(output: str) -> list[int]:
    """The mention ids of a `work queue` table, top to bottom."""
    return [int(line.split()[0]) for line in output.splitlines()
            if line.split() and line.split()[0].isdigit() and "item(s)" not in line]


def test_queue_lists_open_work_by_sla_urgency(cli, db, ids):
    output = ok(cli("work", "queue", "-w", "acme"))
    assert queue_order(output) == [ids["red"], ids["yellow"], ids["green"]]
    red_line = next(line for line in output.splitlines() if line.startswith(str(ids["red"])))
    assert "left" in red_line and "red" in red_line and "escalations" in red_line and "escalate" in red_line
    assert "see you in court" in red_line

    with db.write() as session:  # twelve minutes pass for the yellow one
        session.execute(update(WorkItem).where(WorkItem.mention_id == ids["yellow"])
                        .values(sla_due_at=utcnow() - timedelta(minutes=12, seconds=5)))
    output = ok(cli("work", "queue", "-w", "acme"))
    assert queue_order(output) == [ids["yellow"], ids["red"], ids["green"]]
    assert "OVERDUE 12m" in output and "1 overdue" in output

    assert queue_order(ok(cli("work", "queue", "-w", "acme", "--flag", "green"))) == [ids["green"]]
    assert queue_order(ok(cli("work", "queue", "-w", "acme", "--queue", "escalations"))) == [ids["red"]]
    assert queue_order(ok(cli("work", "queue", "-w", "acme", "--limit", "1"))) == [ids["yellow"]]
    assert "No work matches." in ok(cli("work", "queue", "-w", "acme", "--state", "closed"))


def test_queue_mine_and_unassigned(cli, ids):
    ok(cli("work", "assign", "-w", "acme", str(ids["green"]), "bob@example.com", "--as", "bob@example.com"))
    assert queue_order(ok(cli("work", "queue", "-w", "acme", "--mine", "--as", "bob@example.com"))) == [ids["green"]]
    assert queue_order(ok(cli("work", "queue", "-w", "acme", "--unassigned"))) == [ids["red"], ids["yellow"]]
    refused(cli("work", "queue", "-w", "acme", "--mine"), "--mine needs --as EMAIL")
    refused(cli("work", "queue", "-w", "acme", "--queue", "vip"), "unknown queue 'vip'; queues are care_general")
    refused(cli("work", "queue", "-w", "acme", "--state", "open"), "unknown state(s) open")
    refused(cli("work", "queue", "-w", "acme", "--flag", "blue"), "unknown flag 'blue'")
    refused(cli("work", "queue", "-w", "acme", "--mine", "--as", "zoe@example.com"),
            "zoe@example.com is not a member of this workspace")


def test_agent_cannot_assign_others_but_may_take_work(cli, db, ids):
    red = str(ids["red"])
    refused(cli("work", "assign", "-w", "acme", red, "ana@example.com", "--as", "bob@example.com"),
            "bob@example.com (agent) may not assign mentions to others: it needs the 'assign' permission")
    assert item(db, ids["red"]).assignee_id is None

    assert f"Mention {red} is assigned to bob@example.com (state assigned)." in ok(
        cli("work", "assign", "-w", "acme", red, "bob@example.com", "--as", "bob@example.com"))
    ok(cli("work", "assign", "-w", "acme", red, "ana@example.com", "--as", "ana@example.com", "--reason", "crisis"))
    ok(cli("work", "assign", "-w", "acme", red, "--unassign", "--reason", "back to the pool"))
    assert item(db, ids["red"]).state == "new" and item(db, ids["red"]).assignee_id is None


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["zoe@example.com"], ["zoe@example.com is not a member of this workspace"]),
        (["lee@example.com"], ["lee@example.com (legal) cannot take work in queue 'escalations'"]),
        (["ghost@example.com"], ["no user with e-mail 'ghost@example.com'"]),
        (["ana@example.com", "--unassign"], ["give the assignee's e-mail or --unassign"]),
        ([], ["give the assignee's e-mail or --unassign"]),
        (["ana@example.com", "--as", "ghost@example.com"], ["no user with e-mail 'ghost@example.com'"]),
    ],
)
def test_assign_refusals_change_nothing(cli, db, ids, args, phrases):
    revision = item(db, ids["red"]).revision
    refused(cli("work", "assign", "-w", "acme", str(ids["red"]), *args), *phrases)
    assert item(db, ids["red"]).assignee_id is None and item(db, ids["red"]).revision == revision


def test_assign_an_unknown_mention_is_not_found(cli, ids):
    refused(cli("work", "assign", "-w", "acme", "999999", "ana@example.com"), "mention 999999 has no work item")


def test_state_changes_follow_the_state_machine_and_move_the_clocks(cli, db, ids):
    red = str(ids["red"])
    ok(cli("work", "assign", "-w", "acme", red, "ana@example.com"))
    assert f"Mention {red}: assigned → responded." in ok(
        cli("work", "state", "-w", "acme", red, "responded", "--as", "ana@example.com", "--reason", "acknowledged"))
    refused(cli("work", "state", "-w", "acme", red, "new"),
            f"mention {red} cannot go from responded to new; from responded it can go to assigned, closed, resolved")
    refused(cli("work", "state", "-w", "acme", red, "done"), "unknown state 'done'")
    refused(cli("work", "state", "-w", "acme", red, "waiting", "--as", "lee@example.com"),
            "lee@example.com (legal) may not move a mention from responded to waiting",
            "it needs the 'set_waiting' permission")
    ok(cli("work", "state", "-w", "acme", red, "waiting", "--as", "ana@example.com"))
    with db.read() as session:
        states = dict(session.execute(select(SlaClock.metric, SlaClock.state)
                                      .where(SlaClock.mention_id == ids["red"])).all())
    assert states == {"first_response": "met", "resolution": "paused"}
    assert "paused" in ok(cli("work", "queue", "-w", "acme", "--state", "waiting"))
    ok(cli("work", "state", "-w", "acme", red, "resolved", "--as", "ana@example.com"))
    assert item(db, ids["red"]).state == "resolved"


def test_show_explains_the_assessment_clocks_and_audit_trail(cli, ids):
    red = str(ids["red"])
    ok(cli("work", "assign", "-w", "acme", red, "ana@example.com", "--reason", "she leads the crisis desk"))
    ok(cli("work", "state", "-w", "acme", red, "responded", "--as", "ana@example.com", "--reason", "acknowledged"))
    output = ok(cli("work", "show", "-w", "acme", red))
    assert f"Mention {red} · responded · queue escalations (team crisis, rule red_to_crisis)" in output
    assert RED in output and "Triage: red legal_threat" in output
    assert "Recommended action: escalate" in output
    assert "1. Is this a red flag? → yes, red flag" in output
    for consideration in ("transparency:", "sourcing:", "timeliness:", "tone:", "influence:", "next step:"):
        assert consideration in output
    clocks = output.split("SLA clocks")[1]
    assert "first_response  red" in clocks and "met" in clocks
    resolution = next(line for line in clocks.splitlines() if "resolution" in line)
    assert "running" in resolution and "8h" in resolution and "left" in resolution
    assert "first response after" in output
    trail = output.split("Audit trail")[1]
    assert "opened in queue escalations by rule red_to_crisis, action escalate" in trail
    assert "cli  assigned to ana@example.com: she leads the crisis desk" in trail
    assert "ana@example.com  assigned → responded: acknowledged" in trail


def test_show_of_a_green_mention_walks_the_longer_path(cli, ids):
    output = ok(cli("work", "show", "-w", "acme", str(ids["green"])))
    assert "Recommended action: thank" in output
    assert "1. Is this a red flag? → otherwise" in output
    assert "Is the post negative, positive or neutral? → positive" in output


def test_show_is_scoped_to_the_workspace(cli, ids, globex):
    refused(cli("work", "show", "-w", "globex", str(ids["red"])), f"mention {ids['red']} has no work item")


@pytest.mark.parametrize(
    ("who", "offer", "code", "phrases"),
    [
        ("bob@example.com", ["refund", "30"], 0, ["allowed", "refund of 30 is within the agent limit of 50"]),
        ("bob@example.com", ["refund", "80"], 1, ["needs approval", "refund of 80 exceeds the agent limit of 50",
                                                   "ask someone with the role lead or executive or admin"]),
        ("bob@example.com", ["public_apology"], 1, ["the agent role may not apologise publicly"]),
        ("ana@example.com", ["replacement"], 0, ["the lead role may offer a replacement"]),
        ("lee@example.com", ["refund", "1"], 1, ["the legal role may not offer a refund"]),
        ("bob@example.com", ["bribe", "5"], 2, ["unknown offer 'bribe'"]),
        ("bob@example.com", ["refund"], 2, ["a refund needs an amount above zero"]),
        ("zoe@example.com", ["refund", "5"], 2, ["zoe@example.com is not a member of this workspace"]),
    ],
)
def test_authority(cli, ids, who, offer, code, phrases):
    result = cli("work", "authority", "-w", "acme", "--as", who, *offer)
    assert result.exit_code == code, result.output
    for phrase in phrases:
        assert phrase in result.output


def test_the_operator_acts_as_admin(cli, ids):
    assert "within the admin limit of 5000" in ok(cli("work", "authority", "-w", "acme", "refund", "4000"))


def test_sla_tick_fires_due_events_once(cli, db, ids):
    assert "Fired 0 event(s)" in ok(cli("sla", "tick"))
    with db.write() as session:  # the red mention's warning time has come
        session.execute(update(SlaClock).where(SlaClock.mention_id == ids["red"], SlaClock.metric == "first_response")
                        .values(next_fire_at=utcnow() - timedelta(seconds=1)))
    output = ok(cli("sla", "tick"))
    fired = next(line for line in output.splitlines() if line.startswith("acme"))
    assert fired.split() == ["acme", str(ids["red"]), "first_response", "red", "warning"]
    assert "Fired 1 event(s)" in output and "Next event due" in output
    assert "Fired 0 event(s)" in ok(cli("sla", "tick"))
    with db.read() as session:
        assert session.scalars(select(SlaEvent.event)).all() == ["warning"]


def test_alerts_list_and_send_through_a_webhook(cli, db, ids):
    output = ok(cli("alerts", "list", "-w", "acme"))
    assert "red_flag" in output and "crisis" in output and "pending" in output
    failing = refused(cli("alerts", "send"), "FIREBREAK_ALERT_CRISIS_URL is not set", code=1)
    assert "Sent 0 alert(s) in 0 message(s); 1 to retry" in failing
    assert "FIREBREAK_ALERT_CRISIS_URL is not set" in ok(cli("alerts", "list", "-w", "acme", "--state", "pending"))

    with db.write() as session:  # the retry's backoff has passed
        session.execute(update(Alert).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    with webhook_receiver() as hook:
        output = ok(cli("alerts", "send", FIREBREAK_ALERT_CRISIS_URL=hook.json_url("/crisis")))
        assert "Sent 1 alert(s) in 1 message(s)" in output
        [request] = hook.wait_for(1)
    assert request.path == "/crisis" and "see you in court" in request.json["message"]
    assert "red_flag" in ok(cli("alerts", "list", "-w", "acme", "--state", "sent"))
    assert "No alerts." in ok(cli("alerts", "list", "-w", "acme", "--state", "pending"))
    refused(cli("alerts", "list", "-w", "acme", "--state", "lost"), "unknown alert state 'lost'")


def _active_version(db, ws) -> str | None:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return session.scalar(select(PlaybookVersion.version).where(PlaybookVersion.workspace_id == ws.id,
                                                                    PlaybookVersion.active.is_(True)))


def test_playbook_apply_show_history_rollback(cli, db, acme, tmp_path):
    assert "runs the deployment's playbook <default>/default.yaml" in ok(cli("playbook", "show", "-w", "acme"))
    first = tmp_path / "first.yaml"
    first.write_text(DEFAULT_YAML)
    output = ok(cli("playbook", "apply", str(first), "-w", "acme", "--comment", "our own copy"))
    assert "is now in force in acme" in output
    assert "Team care has no members yet" in output
    first_version = _active_version(db, acme)

    second = tmp_path / "second.yaml"
    second.write_text(DEFAULT_YAML.replace("refund_up_to: 50", "refund_up_to: 75"))
    ok(cli("playbook", "apply", str(second), "-w", "acme"))
    second_version = _active_version(db, acme)
    assert second_version != first_version
    show = ok(cli("playbook", "show", "-w", "acme"))
    assert f"runs playbook version id 2: {second_version}" in show and "by cli from" in show
    assert "refund_up_to: 75" in ok(cli("playbook", "show", "-w", "acme", "--yaml"))

    history = ok(cli("playbook", "history", "-w", "acme"))
    assert first_version in history and second_version in history and "our own copy" in history
    assert f"Playbook version id 1 ({first_version}) is back in force in acme." in ok(
        cli("playbook", "rollback", "-w", "acme", "1"))
    assert _active_version(db, acme) == first_version
    refused(cli("playbook", "rollback", "-w", "acme", "99"), "playbook version 99 does not exist in this workspace")


def test_an_invalid_playbook_names_line_and_field_and_the_old_one_stays(cli, db, acme, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(DEFAULT_YAML)
    ok(cli("playbook", "apply", str(good), "-w", "acme"))
    in_force = _active_version(db, acme)

    bad = tmp_path / "bad.yaml"
    text = DEFAULT_YAML.replace("      refund_up_to: 500", "      refund_up_to: -5")
    bad.write_text(text)
    line = text.splitlines().index("      refund_up_to: -5") + 1
    output = refused(cli("playbook", "apply", str(bad), "-w", "acme"),
                     "the playbook in force in acme is unchanged", code=1)
    assert f"{bad}:{line}: roles.lead.authority.refund_up_to:" in output
    assert _active_version(db, acme) == in_force
    assert in_force in ok(cli("playbook", "show", "-w", "acme"))
    with db.read() as session:
        assert len(session.scalars(select(PlaybookVersion)).all()) == 1

    unknown_role = tmp_path / "roles.yaml"
    unknown_role.write_text(DEFAULT_YAML.replace("  executive:\n    label: Executive", "  boss:\n    label: Boss"))
    refused(cli("playbook", "apply", str(unknown_role), "-w", "acme"), "roles.boss", "unknown role", code=1)
    refused(cli("playbook", "apply", str(tmp_path / "missing.yaml"), "-w", "acme"), "no such file", code=1)
    refused(cli("playbook", "apply", str(good), "-w", "nowhere"), "workspace 'nowhere' does not exist")
    assert _active_version(db, acme) == in_force


def test_an_applied_playbook_governs_the_workflow(cli, db, ids, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(DEFAULT_YAML.replace("refund_up_to: 50", "refund_up_to: 100"))
    ok(cli("playbook", "apply", str(mine), "-w", "acme"))
    assert "within the agent limit of 100" in ok(
        cli("work", "authority", "-w", "acme", "--as", "bob@example.com", "refund", "80"))


def test_playbook_check_runs_action_examples_through_the_assessment_tree(tmp_path, monkeypatch):
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    monkeypatch.setenv("FIREBREAK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    path = tmp_path / "mine.yaml"
    path.write_text(DEFAULT_YAML + "\n".join([
        f'  - {{text: "{RED}", action: escalate}}',
        f'  - {{text: "{YELLOW}", action: take_private}}',
        '  - {text: "Thanks so much, love the new app!", action: amplify, author: {handle: star, followers: 90000}}',
        '  - {text: "Thanks so much, love the new app!", action: let_stand, author: {handle: me, tags: [employee]}}',
        '  - {text: "you are all idiots", action: monitor, author: {handle: t, tags: [troll]}}',
    ]) + "\n")
    result = CliRunner().invoke(app, ["playbook", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "27 of 27 examples pass (5 checked against the assessment tree)." in result.output

    path.write_text(DEFAULT_YAML + f'  - {{text: "{GREEN}", action: escalate}}\n')
    result = CliRunner().invoke(app, ["playbook", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert "action: expected escalate, got thank (outcome thank)" in result.output
    assert "path: red_flags: otherwise → our_voice: otherwise" in result.output
    assert "because: green" in result.output
    get_settings.cache_clear()
