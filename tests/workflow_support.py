"""People, playbooks and a clocked pipeline for the response-workflow tests.

    cast = add_cast(db, acme, globex)          # ana (agent, care), lee (care lead), the crisis desk, ...
    use_playbook(db, acme, playbook_text(alert_url=hook.json_url("/red")))
    ingest_at(db, acme, [mention("1", "see you in court")], received_at=FRIDAY_EVENING)
    run_pipeline(db, settings, now=FRIDAY_EVENING)
    item = work_item(db, acme, "1")

The workspace playbook is the shipped default with acme's people on the crisis rota and JSON-webhook
alert targets on loopback, so alerts are real rows for real targets, and nothing reads the environment.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import yaml
from sqlalchemy import func, select

from firebreak.accounts import service as accounts
from firebreak.accounts.models import TeamMember
from firebreak.channels import service as channel_service
from firebreak.core.clock import FixedClock
from firebreak.db.engine import Database
from firebreak.mentions import service as mention_service
from firebreak.mentions.models import Mention
from firebreak.mentions.schemas import MentionIn
from firebreak.notify.models import Alert
from firebreak.pipeline.runner import Pipeline
from firebreak.pipeline.stages.issues import IssuesStage
from firebreak.pipeline.stages.workflow import WorkflowStage
from firebreak.playbook.loader import LoadedPlaybook, load_playbook
from firebreak.playbook.service import PlaybookStore, apply_playbook
from firebreak.services import Services
from firebreak.settings import Settings
from firebreak.worker import BackgroundWorker
from firebreak.workflow.actions import Actor
from firebreak.workflow.models import SlaClock, SlaEvent, WorkItem
from tests.factories import WorkspaceFixture

LONDON = ZoneInfo("Europe/London")
# Placeholder targets for tests that only count alert rows: nothing listens on the discard port.
NOWHERE = "json://127.0.0.1:9/nowhere"
ROTA = ("cris@acme.test", "dan@acme.test", "eve@acme.test")


def london(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A London wall-clock time as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


# Saturday 14 November 2026 and the days around it (GMT, so London time is UTC).
FRIDAY_EVENING = london(2026, 11, 13, 19, 30)
SATURDAY_EVENING = london(2026, 11, 14, 19, 30)
TUESDAY_MORNING = london(2026, 11, 10, 10, 0)
TUESDAY_NIGHT = london(2026, 11, 10, 23, 0)


# ---------------------------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Cast:
    """The people of the workflow tests, by role; ids are user ids."""

    ana: int  # agent in care
    lee: int  # lead of care
    cris: int  # crisis desk lead, first on the on-call rota
    dan: int  # crisis desk, second on the rota
    eve: int  # crisis desk, third on the rota
    lex: int  # legal reviewer only: may not take care work
    gus: int  # a globex agent: not a member of acme


def add_member(
    db: Database, ws: WorkspaceFixture, email: str, roles: Sequence[str], *, teams: Iterable[str] = (),
    leads: Iterable[str] = (), available: bool = True,
) -> int:
    """Create (or reuse) the user, grant the roles in `ws` and put them in the teams; return the user id."""
    with db.write() as session:
        existing = accounts.users_by_email(session=session, emails=[email])
        user = existing.get(email) or accounts.create_user(session=session, email=email)
        for role in roles:
            accounts.grant_role(session=session, workspace_id=ws.id, user=user, role=role)
        session.flush()
        for team in teams:
            accounts.join_team(session=session, workspace_id=ws.id, user=user, team=team)
        for team in leads:
            accounts.join_team(session=session, workspace_id=ws.id, user=user, team=team, lead=True)
        if not available:
            accounts.set_available(session=session, workspace_id=ws.id, user=user, available=False)
        return user.id


def add_cast(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> Cast:
    """ana (agent, care), lee (lead, care), cris/dan/eve (crisis desk, cris leads it), lex (legal), gus (globex)."""
    return Cast(
        ana=add_member(db, acme, "ana@acme.test", ["agent"], teams=["care"]),
        lee=add_member(db, acme, "lee@acme.test", ["lead"], leads=["care"]),
        cris=add_member(db, acme, "cris@acme.test", ["lead"], leads=["crisis"]),
        dan=add_member(db, acme, "dan@acme.test", ["agent"], teams=["crisis"]),
        eve=add_member(db, acme, "eve@acme.test", ["agent"], teams=["crisis"]),
        lex=add_member(db, acme, "lex@acme.test", ["legal"]),
        gus=add_member(db, globex, "gus@globex.test", ["agent"], teams=["care"]),
    )


def actor(db: Database, ws: WorkspaceFixture, email: str) -> Actor:
    """The Actor for a user, with their roles in `ws` (none when not a member)."""
    with db.read() as session:
        user = accounts.get_user(session=session, email=email)
        return Actor.for_user(session, ws.id, user)


def set_team_availability(db: Database, ws: WorkspaceFixture, user_id: int, team: str, available: bool) -> None:
    with db.write() as session:
        member = session.scalar(select(TeamMember).where(
            TeamMember.workspace_id == ws.id, TeamMember.team == team, TeamMember.user_id == user_id))
        assert member is not None, f"user {user_id} is not in team {team}"
        member.available = available


# ---------------------------------------------------------------------------------------------- playbook


@lru_cache(maxsize=1)
def _default_document() -> dict[str, Any]:
    text = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def playbook_text(
    *, alert_url: str = NOWHERE, legal_url: str = NOWHERE, crisis_calendar: str | None = None,
    rota: Sequence[str] = ROTA,
) -> str:
    """The default playbook with acme's crisis rota and two red-flag targets (`crisis`, `legal_desk`).

    `crisis_calendar` gives the crisis desk office hours (the default desk is open around the clock),
    so a test can see red flags go to the on-call person out of hours.
    """
    document = copy.deepcopy(_default_document())
    document["playbook"] = {"name": "Acme workflow tests", "version": "acme-1"}
    for team in document["teams"]:
        if team["id"] == "crisis":
            team["on_call"]["rotation"] = list(rota)
            if crisis_calendar is not None:
                team["calendar"] = crisis_calendar
    document["alerts"] = {
        "targets": [
            {"id": "crisis", "label": "Crisis desk webhook", "url": alert_url},
            {"id": "legal_desk", "label": "Legal desk webhook", "url": legal_url, "kinds": ["red_flag"]},
        ],
        "red_flag": ["crisis", "legal_desk"],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def use_playbook(db: Database, ws: WorkspaceFixture, text: str) -> None:
    """Make `text` the workspace's playbook (validated, audited) through the playbook service."""
    with db.write() as session:
        apply_playbook(session=session, workspace_id=ws.id, text=text, source="tests/acme.yaml", actor="test")


# ---------------------------------------------------------------------------------------------- mentions


def post(external_id: str, text: str, *, at: datetime, **fields: Any) -> MentionIn:
    """A mention posted at `at` (the factories' default posting time is days away from these tests)."""
    return msgspec.convert({"external_id": external_id, "text": text, "created_at": at, **fields}, MentionIn)


def ingest_at(
    db: Database, ws: WorkspaceFixture, items: list[MentionIn], *, received_at: datetime, channel_slug: str = "x-main",
) -> list[int]:
    """Store mentions as received at `received_at` (when their SLA clocks start); return their ids."""
    with db.write() as session:
        channels = channel_service.channels_by_slug(session=session, workspace_id=ws.id)
        result = mention_service.ingest_mentions(
            session=session, workspace_id=ws.id, channels=channels, default_channel=channels[channel_slug],
            items=items, received_at=received_at)
        return list(result.ids)


@lru_cache(maxsize=1)
def _default_playbook() -> LoadedPlaybook:
    return load_playbook()


_SERVICES: dict[int, tuple[Settings, Services]] = {}


def services_for(settings: Settings) -> Services:
    """One Services per test (per `settings`), sharing the parsed default playbook across tests: parsing
    the shipped default costs a quarter of a second, more than the rest of a typical test."""
    kept = _SERVICES.get(id(settings))
    if kept is None or kept[0] is not settings:
        services = Services(settings)
        services.playbooks = PlaybookStore(_default_playbook())
        _SERVICES.clear()
        kept = _SERVICES[id(settings)] = (settings, services)
    return kept[1]


def clocked_pipeline(settings: Settings, clock: FixedClock) -> Pipeline:
    """The built-in stages with the workflow (and the pipeline's own claims) on `clock`."""
    services = services_for(settings)
    stages = [stage for stage in services.stages() if stage.name not in ("workflow", "issues")]
    stages.append(WorkflowStage(services.workflows, public_url=settings.base_url, clock=clock))
    stages.append(IssuesStage(clock=clock))
    return Pipeline(stages, max_attempts=settings.pipeline_max_attempts,
                    retry_base_seconds=settings.pipeline_retry_base_seconds, clock=clock)


def run_pipeline(db: Database, settings: Settings, *, now: datetime, batch_size: int = 256) -> int:
    """Drain every pending mention through the real stages as of `now`; return how many were processed."""
    return BackgroundWorker(db, clocked_pipeline(settings, FixedClock(now)), batch_size=batch_size).drain()


# ---------------------------------------------------------------------------------------------- reading


def mention_id(db: Database, ws: WorkspaceFixture, external_id: str) -> int:
    with db.read() as session:
        found = session.scalar(select(Mention.id).where(Mention.workspace_id == ws.id,
                                                        Mention.external_id == external_id))
    assert found is not None, f"no mention {external_id!r} in {ws.slug}"
    return found


def work_item(db: Database, ws: WorkspaceFixture, external_id: str) -> WorkItem:
    """The work item of a mention, detached (its columns stay readable)."""
    with db.read() as session:
        item = session.scalar(select(WorkItem).join(Mention, Mention.id == WorkItem.mention_id).where(
            Mention.workspace_id == ws.id, Mention.external_id == external_id))
        assert item is not None, f"mention {external_id!r} has no work item"
        session.expunge(item)
    return item


def clocks_of(db: Database, mention: int) -> dict[str, SlaClock]:
    """The mention's SLA clocks by metric, detached."""
    with db.read() as session:
        rows = list(session.scalars(select(SlaClock).where(SlaClock.mention_id == mention)))
        session.expunge_all()
    return {clock.metric: clock for clock in rows}


def alerts_of(db: Database, *, kind: str | None = None, mention: int | None = None) -> list[Alert]:
    """Alert rows (optionally of one kind / mention), oldest first, detached."""
    with db.read() as session:
        stmt = select(Alert).order_by(Alert.id)
        if kind is not None:
            stmt = stmt.where(Alert.kind == kind)
        if mention is not None:
            stmt = stmt.where(Alert.mention_id == mention)
        rows = list(session.scalars(stmt))
        session.expunge_all()
    return rows


def sla_events(db: Database) -> list[tuple[int, str]]:
    """(clock id, event) of every fired SLA event, in firing order."""
    with db.read() as session:
        return [tuple(row) for row in session.execute(select(SlaEvent.clock_id, SlaEvent.event).order_by(SlaEvent.id))]


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------------------------------------- a tick to kill


def _hang_inside_tick(argv: list[str]) -> int:
    """`python -m tests.workflow_support URL DATA_DIR NOW`: tick the SLA scheduler as of NOW, and stop dead
    inside its write transaction, after the events are inserted, until killed."""
    url, data_dir, now = argv
    from firebreak.notify import outbox
    from firebreak.workflow import scheduler as scheduler_module
    from firebreak.workflow.scheduler import SlaScheduler

    def enqueue_then_hang(**kwargs: Any) -> int:
        stored = outbox.enqueue(**kwargs)
        print(f"inside {stored}", flush=True)
        time.sleep(600)  # the events and alerts are in the open transaction when the test kills us
        return stored

    scheduler_module.outbox = SimpleNamespace(enqueue=enqueue_then_hang)  # type: ignore[assignment]
    settings = Settings(data_dir=data_dir, database_url=url, worker_enabled=False, feed_poll_enabled=False,
                        _env_file=None)
    services = services_for(settings)
    database = Database(url)
    SlaScheduler(services.workflows, public_url=settings.base_url,
                 clock=FixedClock(datetime.fromisoformat(now))).tick(database)
    return 0


if __name__ == "__main__":
    raise SystemExit(_hang_inside_tick(sys.argv[1:]))
