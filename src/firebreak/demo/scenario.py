"""The Wrenly lockout: a scripted two-day scenario, read from JSONL and loaded idempotently.

Wrenly Home is a fictional smart-home maker (Latch locks, Ember thermostats, Perch doorbells).
Its Latch firmware 5.3.0 drains lock batteries overnight; the script follows scattered reports
turning into a morning spike of lockouts, a journalist and an influencer picking it up, the
brand's replies and fix, and the everyday traffic around it.

The data file uses the documented mention schema (see `firebreak.mentions.schemas`) with one
change: instead of `created_at` each line has `"at"`, an offset from the scenario's start such as
`"+31h05m"`, `"+1d7h5m20s"` or a number of minutes. Loading places the script so that its last
post is a couple of minutes old, so the demo always looks like the last two days.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.accounts import service as account_service
from firebreak.channels import service as channel_service
from firebreak.channels.models import Channel
from firebreak.core.clock import ensure_utc
from firebreak.core.errors import ImportRowError, InvalidInput, NotFound
from firebreak.mentions import service as mention_service
from firebreak.mentions.models import Mention
from firebreak.mentions.schemas import MentionIn, convert_mention
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import ApiToken

SCENARIO_PATH = Path(__file__).parent / "data" / "wrenly_lockout.jsonl"
WORKSPACE_SLUG = "demo"
WORKSPACE_NAME = "Wrenly Home (demo)"
TOKEN_NAME = "demo"
TOKEN_SCOPES = ["mentions:read", "admin"]
ACTOR = "demo"
# The newest scripted post is this old when loaded: recent, but never ahead of the server clock.
LEAD = timedelta(minutes=2)

_OFFSET = re.compile(r"^\+?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True, slots=True)
class DemoChannel:
    """A channel the demo workspace gets: its slug, kind and display name."""

    slug: str
    kind: str
    name: str


CHANNELS: tuple[DemoChannel, ...] = (
    DemoChannel("x", "x", "X (@WrenlyHome, @WrenlySupport)"),
    DemoChannel("reddit", "reddit", "Reddit (r/smarthome, r/homeautomation, r/Wrenly)"),
    DemoChannel("facebook", "facebook", "Facebook page"),
    DemoChannel("instagram", "instagram", "Instagram"),
    DemoChannel("mastodon", "mastodon", "Mastodon"),
    DemoChannel("bluesky", "bluesky", "Bluesky"),
    DemoChannel("support-forum", "support_forum", "Wrenly community forum"),
    DemoChannel("blogs", "blog", "Blogs"),
    DemoChannel("news", "news", "News"),
)


@dataclass(frozen=True, slots=True)
class ScriptedMention:
    """One line of the script: when it happens, relative to the start, and the mention itself."""

    offset: timedelta
    mention: MentionIn
    line: int


@dataclass(slots=True)
class DemoLoad:
    """What loading the scenario did."""

    workspace_id: int
    total: int = 0
    created: int = 0
    duplicates: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    channels_created: list[str] = field(default_factory=list)
    workspace_created: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def parse_offset(value: Any) -> timedelta:
    """Return the offset written as `+1d2h3m4s` (any part optional) or as a number of minutes."""
    if isinstance(value, bool):
        raise InvalidInput("must be an offset like '+1h23m' or a number of minutes", field="at")
    if isinstance(value, int | float):
        if value < 0:
            raise InvalidInput("offset cannot be negative", field="at")
        return timedelta(minutes=value)
    if isinstance(value, str):
        match = _OFFSET.match(value.strip())
        if match and any(match.groups()):
            days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
            return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    raise InvalidInput(f"{value!r} is not an offset like '+1h23m', '+2d', '+45s' or a number of minutes", field="at")


def read_scenario(path: Path = SCENARIO_PATH) -> list[ScriptedMention]:
    """Parse and validate a scenario file; errors name the file, line and field."""
    script: list[ScriptedMention] = []
    where = str(path)
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            try:
                obj = orjson.loads(raw_line)
            except orjson.JSONDecodeError as exc:
                raise ImportRowError(f"malformed JSON: {exc}", path=where, line=number) from None
            if not isinstance(obj, dict):
                raise ImportRowError("each line must be a JSON object", path=where, line=number)
            if "created_at" in obj:
                # Absolute times would pin the demo to one date; the script only speaks in offsets.
                raise ImportRowError("use 'at' (an offset), not 'created_at'", path=where, line=number, column="at")
            if "at" not in obj:
                raise ImportRowError("missing 'at' offset", path=where, line=number, column="at")
            try:
                offset = parse_offset(obj.pop("at"))
                mention = convert_mention(obj)
            except InvalidInput as exc:
                raise ImportRowError(exc.message, path=where, line=number, column=exc.field) from None
            if not mention.channel:
                raise ImportRowError("each line must name its channel", path=where, line=number, column="channel")
            script.append(ScriptedMention(offset=offset, mention=mention, line=number))
    if not script:
        raise ImportRowError("the scenario has no mentions", path=where, line=0)
    return script


def schedule(script: list[ScriptedMention], *, end: datetime) -> list[MentionIn]:
    """Return the script's mentions with real times, oldest first, the last one at `end`."""
    end = ensure_utc(end).replace(microsecond=0)
    start = end - max(item.offset for item in script)
    ordered = sorted(script, key=lambda item: (item.offset, item.line))
    return [msgspec.structs.replace(item.mention, created_at=start + item.offset) for item in ordered]


def install_demo(*, session: Session, now: datetime, path: Path = SCENARIO_PATH) -> DemoLoad:
    """Create (or reuse) the demo workspace and its channels and load the scenario into it once."""
    script = read_scenario(path)
    wanted = {c.slug: c for c in CHANNELS}
    unknown = sorted({item.mention.channel for item in script} - set(wanted))  # type: ignore[arg-type]
    if unknown:
        raise InvalidInput(f"scenario names channels the demo does not create: {', '.join(unknown)}", field="channel")

    try:
        workspace = workspace_service.get_workspace(session=session, slug=WORKSPACE_SLUG)
        load = DemoLoad(workspace_id=workspace.id)
    except NotFound:
        workspace = workspace_service.create_workspace(
            session=session, slug=WORKSPACE_SLUG, name=WORKSPACE_NAME, actor=ACTOR
        )
        load = DemoLoad(workspace_id=workspace.id, workspace_created=True)
    channels = ensure_channels(session=session, workspace_id=workspace.id, load=load)

    items = schedule(script, end=now - LEAD)
    stored = _stored_keys(session=session, workspace_id=workspace.id)
    for item in items:
        if (channels[item.channel].id, str(item.external_id)) in stored:  # type: ignore[index]
            load.duplicates += 1  # a rerun: skip the lookups ingest would repeat for every post
            continue
        # One call per post so each keeps its own received time: the demo looks as if Firebreak
        # had been listening all along.
        result = mention_service.ingest_mentions(
            session=session,
            workspace_id=workspace.id,
            channels=channels,
            items=[item],
            received_at=item.created_at,
        )
        load.created += result.created
        load.duplicates += result.duplicates
    load.total = len(items)
    load.by_channel = dict(Counter(item.channel for item in items if item.channel))
    load.starts_at = items[0].created_at
    load.ends_at = items[-1].created_at
    return load


def _stored_keys(*, session: Session, workspace_id: int) -> set[tuple[int, str]]:
    rows = session.execute(select(Mention.channel_id, Mention.external_id).where(Mention.workspace_id == workspace_id))
    return {(row.channel_id, row.external_id) for row in rows}


def ensure_channels(*, session: Session, workspace_id: int, load: DemoLoad | None = None) -> dict[str, Channel]:
    """Return the demo channels by slug, creating the missing ones."""
    existing = channel_service.channels_by_slug(session=session, workspace_id=workspace_id)
    for spec in CHANNELS:
        if spec.slug in existing:
            continue
        existing[spec.slug] = channel_service.create_channel(
            session=session, workspace_id=workspace_id, slug=spec.slug, kind=spec.kind, name=spec.name, actor=ACTOR
        )
        if load is not None:
            load.channels_created.append(spec.slug)
    return existing


def issue_demo_token(*, session: Session, workspace_id: int) -> str:
    """Revoke earlier demo tokens and return the secret of a fresh one (read + admin)."""
    # Secrets are stored hashed, so a rerun cannot show the old one again; revoking keeps a
    # single live demo token instead of one more per run.
    earlier = session.scalars(
        select(ApiToken.id).where(
            ApiToken.workspace_id == workspace_id, ApiToken.name == TOKEN_NAME, ApiToken.revoked_at.is_(None)
        )
    ).all()
    for token_id in earlier:
        workspace_service.revoke_token(session=session, workspace_id=workspace_id, token_id=token_id, actor=ACTOR)
    _, secret = workspace_service.create_token(
        session=session, workspace_id=workspace_id, name=TOKEN_NAME, scopes=TOKEN_SCOPES, actor=ACTOR
    )
    return secret


@dataclass(frozen=True, slots=True)
class DemoPerson:
    email: str
    name: str
    roles: tuple[str, ...]
    teams: tuple[tuple[str, bool], ...]  # (team, leads it)


# The shipped playbook's crisis on-call rotation names ana, ben and cara @example.com, so the demo's
# people are those, and red flags out of hours land on a real (demo) person.
DEMO_PEOPLE = (
    DemoPerson("ana@example.com", "Ana (agent)", ("agent",), (("care", False), ("crisis", False))),
    DemoPerson("ben@example.com", "Ben (agent)", ("agent",), (("care", False), ("crisis", False))),
    DemoPerson("cara@example.com", "Cara (team lead)", ("lead",), (("care", True), ("crisis", True))),
    DemoPerson("dana@example.com", "Dana (communications)", ("communications",), (("crisis", False),)),
    DemoPerson("lee@example.com", "Lee (legal)", ("legal",), ()),
    DemoPerson("eve@example.com", "Eve (executive)", ("executive",), ()),
    DemoPerson("admin@example.com", "Admin", ("admin",), ()),
)
DEMO_PASSWORD = "wrenly-demo-password"


def install_people(*, session: Session, workspace_id: int) -> tuple[DemoPerson, ...]:
    """Create the demo's people (one per role) with their teams; a rerun changes nothing."""
    existing = account_service.users_by_email(session=session, emails=[p.email for p in DEMO_PEOPLE])
    for person in DEMO_PEOPLE:
        user = existing.get(person.email) or account_service.create_user(
            session=session, email=person.email, display_name=person.name, password=DEMO_PASSWORD, actor=ACTOR)
        for role in person.roles:
            account_service.grant_role(session=session, workspace_id=workspace_id, user=user, role=role, actor=ACTOR)
        for team, lead in person.teams:
            account_service.join_team(session=session, workspace_id=workspace_id, user=user, team=team, lead=lead,
                                      actor=ACTOR)
    return DEMO_PEOPLE
