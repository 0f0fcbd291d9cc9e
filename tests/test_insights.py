"""The dashboard's numbers: volumes by local day and hour in the workspace's zone (clock changes included),
response times and first-response goals by team, open work and issues; and the counters behind them, which
must equal a recount from the rows after every kind of write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from firebreak.core.clock import FixedClock
from firebreak.core.errors import InvalidInput
from firebreak.db.engine import Database
from firebreak.insights import counts
from firebreak.insights.dashboard import dashboard, estimate_quantile, window
from firebreak.mentions.models import Mention
from firebreak.settings import Settings
from firebreak.triage import service as triage_service
from firebreak.triage.models import MentionTriage
from firebreak.workflow import actions
from firebreak.workflow.models import WorkItem
from firebreak.workflow.scheduler import SlaScheduler
from firebreak.workspaces.models import Workspace
from tests.factories import WorkspaceFixture
from tests.issues_support import add_issue_cast, advance_to, open_test_issue
from tests.workflow_support import Cast, actor, add_cast, ingest_at, post, run_pipeline, services_for

NEW_YORK = ZoneInfo("America/New_York")
# The default playbook files these as red (crisis desk, 5 minutes to answer), yellow (care, 1 hour), green.
RED = "My lawyer will be in touch about this."
YELLOW = "Please change my booking ABC123 to Friday"
GREEN = "How do I set up two-factor login on my new account?"


def ny(year: int, month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK, fold=fold).astimezone(UTC)


@pytest.fixture
def cast(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> Cast:
    with db.write() as session:
        session.execute(update(Workspace).where(Workspace.id == acme.id).values(timezone="America/New_York"))
    return add_cast(db, acme, globex)


def receive(db: Database, ws: WorkspaceFixture, name: str, text: str, at: datetime, **fields: object) -> int:
    return ingest_at(db, ws, [post(name, f"{text} ({name})", at=at, **fields)], received_at=at)[0]


def board(db: Database, settings: Settings, ws: WorkspaceFixture, days: int, now: datetime) -> dict:
    with db.read() as session:
        runtime = services_for(settings).workflow(session, ws.id)
        return dashboard(session, workspace_id=ws.id, days=days, now=now, runtime=runtime)


def assert_counters_exact(db: Database, *workspaces: WorkspaceFixture) -> None:
    with db.read() as session:
        for ws in workspaces:
            assert counts.stored(session, ws.id) == counts.recount(session, ws.id)


# ---------------------------------------------------------------------------------------------- volumes


def test_daily_volume_follows_the_workspace_zone_across_the_autumn_clock_change(
        db: Database, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture, cast: Cast) -> None:
    # New York left summer time at 02:00 on Sunday 1 November 2026. Each mention's UTC date differs from
    # its local one, or it sits at a local midnight: counted by UTC days, every one would move.
    receive(db, acme, "before", RED, ny(2026, 10, 27, 23, 50))  # 03:50 UTC on the 28th: the day before the window
    receive(db, acme, "first", RED, ny(2026, 10, 28, 0, 10))  # the window's first local day
    receive(db, acme, "sunday", YELLOW, ny(2026, 11, 1, 0, 30))  # still summer time
    receive(db, acme, "sunday-late", GREEN, ny(2026, 11, 1, 23, 30))  # 04:30 UTC on the 2nd
    receive(db, acme, "today", RED, ny(2026, 11, 3, 11, 0))
    receive(db, acme, "brand", GREEN, ny(2026, 11, 3, 11, 5), direction="outbound")  # the brand's own post
    receive(db, globex, "theirs", RED, ny(2026, 11, 2, 12, 0))
    now = ny(2026, 11, 3, 12, 0)
    run_pipeline(db, settings, now=now)

    seen = board(db, settings, acme, 7, now)

    assert seen["timezone"] == "America/New_York" and seen["bucket"] == "day"
    assert [b["label"] for b in seen["buckets"]] == ["28 Oct", "29 Oct", "30 Oct", "31 Oct", "1 Nov", "2 Nov", "3 Nov"]
    assert seen["start"] == ny(2026, 10, 28, 0, 0)
    mentions = seen["mentions"]
    assert mentions["total"] == 4 and mentions["untriaged"] == 0
    assert mentions["series"] == [1, 0, 0, 0, 2, 0, 1]
    assert mentions["by_flag"]["red"] == {"total": 2, "series": [1, 0, 0, 0, 0, 0, 1]}
    assert mentions["by_flag"]["yellow"] == {"total": 1, "series": [0, 0, 0, 0, 1, 0, 0]}
    assert mentions["by_flag"]["green"] == {"total": 1, "series": [0, 0, 0, 0, 1, 0, 0]}
    assert sum(row["total"] for row in mentions["by_category"]) == 4
    assert sum(label["total"] for label in mentions["by_sentiment"].values()) == 4
    x_main = next(channel for channel in mentions["by_channel"] if channel["slug"] == "x-main")
    assert x_main["total"] == 4 and x_main["id"] == acme.x_channel_id
    assert next(c for c in mentions["by_channel"] if c["slug"] == "hooks")["total"] == 0
    # The same day seen from the other side: one mention in globex, none of acme's.
    theirs = board(db, settings, globex, 7, now)["mentions"]
    assert theirs["total"] == 1 and theirs["series"] == [0, 0, 0, 0, 0, 1, 0]
    assert_counters_exact(db, acme, globex)


def test_hourly_volume_counts_the_repeated_hour_once_with_both_of_its_posts(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: Cast) -> None:
    receive(db, acme, "summer", YELLOW, ny(2026, 11, 1, 1, 30, fold=0))  # 05:30 UTC
    receive(db, acme, "winter", YELLOW, ny(2026, 11, 1, 1, 30, fold=1))  # 06:30 UTC, the same wall-clock time
    receive(db, acme, "noon", GREEN, ny(2026, 11, 1, 11, 59))
    now = ny(2026, 11, 1, 12, 0)
    run_pipeline(db, settings, now=now)

    seen = board(db, settings, acme, 2, now)

    assert seen["bucket"] == "hour"
    labels = [b["label"] for b in seen["buckets"]]
    assert len(labels) == 48 and labels[0] == "13:00" and labels[-1] == "12:00"
    assert labels.count("01:00") == 2  # Saturday's and Sunday's; Sunday's holds both of its real hours
    series = seen["mentions"]["series"]
    assert sum(series) == 3
    assert series[labels.index("1 Nov") + 1] == 2  # the hour after local midnight on Sunday
    assert series[-2:] == [1, 0]  # 11:59 is in the 11:00 hour; now (12:00) starts the last, empty one


def test_in_a_half_hour_zone_a_day_starts_at_the_first_utc_hour_after_midnight(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: Cast) -> None:
    # Counters are hourly in UTC; India is UTC+5:30, so its dashboard days run from 00:30 to 00:30.
    kolkata = ZoneInfo("Asia/Kolkata")
    with db.write() as session:
        session.execute(update(Workspace).where(Workspace.id == acme.id).values(timezone="Asia/Kolkata"))
    receive(db, acme, "early", GREEN, datetime(2026, 11, 3, 0, 10, tzinfo=kolkata))
    receive(db, acme, "later", GREEN, datetime(2026, 11, 3, 0, 40, tzinfo=kolkata))
    now = datetime(2026, 11, 3, 12, 0, tzinfo=kolkata)
    run_pipeline(db, settings, now=now)

    daily = board(db, settings, acme, 7, now)
    assert daily["bucket_offset_minutes"] == 30
    assert daily["buckets"][-1] == {"start": datetime(2026, 11, 3, 0, 30, tzinfo=kolkata), "label": "3 Nov"}
    assert daily["mentions"]["series"][-2:] == [1, 1]
    hourly = board(db, settings, acme, 1, now)
    assert [b["label"] for b in hourly["buckets"]][-13:-10] == ["23:30", "3 Nov", "01:30"]
    assert hourly["mentions"]["series"][-13:-10] == [1, 1, 0]


def test_a_window_skips_the_hour_the_clocks_jump_over() -> None:
    span = window(1, ny(2026, 3, 8, 12, 0), NEW_YORK)  # summer time began at 02:00, straight to 03:00
    hours = [span.local_start(index).hour for index in span.indexes()]
    assert len(hours) == 23 and 2 not in hours and hours[0] == 13 and hours[-1] == 12
    assert span.start == ny(2026, 3, 7, 13, 0)


@pytest.mark.parametrize("days", [0, 91, -3, "7", 7.0, True])
def test_a_window_must_be_one_to_ninety_whole_days(days: object) -> None:
    with pytest.raises(InvalidInput, match="days must be a whole number from 1 to 90") as refused:
        window(days, datetime(2026, 11, 3, tzinfo=UTC), NEW_YORK)  # type: ignore[arg-type]
    assert refused.value.field == "days"


# ---------------------------------------------------------------------------------------------- responses


def test_response_times_and_first_response_goals_by_team(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: Cast) -> None:
    start = ny(2026, 11, 3, 9, 0)
    quick_red = receive(db, acme, "quick-red", RED, start)
    slow_red = receive(db, acme, "slow-red", RED, start)
    yellow_a = receive(db, acme, "yellow-a", YELLOW, start)
    yellow_b = receive(db, acme, "yellow-b", YELLOW, start)
    receive(db, acme, "unanswered", YELLOW, start)
    run_pipeline(db, settings, now=start)
    lee = actor(db, acme, "lee@acme.test")
    answers = ((quick_red, 3), (slow_red, 10), (yellow_a, 20), (yellow_b, 50))  # minutes after arrival
    for mention_id, minutes in answers:
        with db.write() as session:
            runtime = services_for(settings).workflow(session, acme.id)
            actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=mention_id,
                                 to_state="responded", actor=lee, reason=None, now=start + timedelta(minutes=minutes))
    # The unanswered yellow mention's hour runs out at 10:00; the scheduler records the breach then.
    SlaScheduler(services_for(settings).workflows, public_url=settings.base_url,
                 clock=FixedClock(start + timedelta(minutes=61))).tick(db)

    seen = board(db, settings, acme, 7, ny(2026, 11, 3, 12, 0))

    first = seen["first_response"]
    assert first["count"] == 4
    assert {row["label"]: row["count"] for row in first["histogram"] if row["count"]} == {
        "2–5m": 1, "10–15m": 1, "15–30m": 1, "30–60m": 1}
    # The 2nd and 3rd of four answers fall in 10–15m and 15–30m: the median is the top of the first,
    # 900 s; nine tenths (3.6 of 4) lie 0.6 into the 30–60m bin: 1800 + 0.6 x 1800 s.
    assert first["median_seconds"] == 900.0
    assert first["p90_seconds"] == 2880.0
    assert first["by_team"] == [{"team": "care", "count": 2, "median_seconds": 1800.0},
                                {"team": "crisis", "count": 2, "median_seconds": 300.0}]
    # crisis: 3 minutes met, 10 minutes late (answered after its 5, never fired); care: two answered
    # within the hour, one breached by the scheduler.
    sla = seen["sla"]
    assert sla["by_team"] == [
        {"team": "care", "met": 2, "breached": 1, "compliance": 66.7},
        {"team": "crisis", "met": 1, "breached": 1, "compliance": 50.0},
    ]
    assert (sla["met"], sla["breached"], sla["compliance"]) == (3, 2, 60.0)
    work = seen["work"]
    assert work["open"] == 5 and work["by_state"]["responded"] == 4  # answered work stays open until resolved
    assert work["overdue"] == 1  # the unanswered one, due at 10:00
    assert_counters_exact(db, acme)


def test_estimated_quantiles_interpolate_inside_a_bin() -> None:
    bins = [0] * len(counts.RESPONSE_BIN_LABELS)
    assert estimate_quantile(bins, 0.5) is None
    bins[1] = 4  # four answers between one and two minutes
    assert estimate_quantile(bins, 0.5) == 90.0
    bins[-1] = 100  # and a hundred after two days: the open bin says "at least"
    assert estimate_quantile(bins, 0.5) == 172800.0


# ---------------------------------------------------------------------------------------------- counters


def test_counters_stay_exact_through_retriage_team_changes_and_deletes(
        db: Database, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture, cast: Cast) -> None:
    at = ny(2026, 11, 3, 9, 0)
    ids = [receive(db, acme, f"m{n}", text, at + timedelta(minutes=n)) for n, text in
           enumerate((RED, YELLOW, GREEN, RED, YELLOW))]
    receive(db, globex, "g1", RED, at)
    run_pipeline(db, settings, now=at + timedelta(minutes=10))
    lee = actor(db, acme, "lee@acme.test")
    with db.write() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=ids[1], to_state="responded",
                             actor=lee, reason=None, now=at + timedelta(minutes=30))
    assert_counters_exact(db, acme, globex)
    now = ny(2026, 11, 3, 12, 0)
    assert board(db, settings, acme, 1, now)["mentions"]["by_flag"]["red"]["total"] == 2

    # Re-triage in place (an UPDATE), and the triage service's delete-then-insert.
    with db.write() as session:
        session.execute(update(MentionTriage).where(MentionTriage.mention_id == ids[0]).values(flag="yellow"))
    with db.write() as session:
        row = session.get(MentionTriage, ids[3])
        assert row is not None
        replaced = {column.name: getattr(row, column.key) for column in MentionTriage.__table__.columns}
        triage_service.store_rows(session=session, rows=[{**replaced, "flag": "green", "category": "praise"}])
    flags = board(db, settings, acme, 1, now)["mentions"]["by_flag"]
    assert (flags["red"]["total"], flags["yellow"]["total"], flags["green"]["total"]) == (0, 3, 2)
    assert_counters_exact(db, acme, globex)

    # Work moving to another team takes its answer and its goal along.
    with db.write() as session:
        session.execute(update(WorkItem).where(WorkItem.mention_id == ids[1]).values(team="crisis"))
    seen = board(db, settings, acme, 1, now)
    assert [row["team"] for row in seen["sla"]["by_team"]] == ["crisis"]
    assert [row["team"] for row in seen["first_response"]["by_team"]] == ["crisis"]
    assert_counters_exact(db, acme, globex)

    # Deleting a mention takes everything it counted for (its verdict, work and clocks go with it).
    with db.write() as session:
        session.delete(session.get(Mention, ids[1]))
    seen = board(db, settings, acme, 1, now)
    assert seen["mentions"]["total"] == 4
    assert seen["first_response"]["count"] == 0 and seen["sla"]["by_team"] == []
    assert_counters_exact(db, acme, globex)
    assert board(db, settings, globex, 1, now)["mentions"]["total"] == 1


def test_counters_follow_a_mention_moved_in_time(
        db: Database, settings: Settings, acme: WorkspaceFixture, cast: Cast) -> None:
    at = ny(2026, 11, 2, 9, 0)
    moved = receive(db, acme, "moved", RED, at)
    run_pipeline(db, settings, now=at)
    with db.write() as session:
        session.execute(update(Mention).where(Mention.id == moved).values(received_at=at + timedelta(days=1)))
    series = board(db, settings, acme, 7, ny(2026, 11, 3, 12, 0))["mentions"]["by_flag"]["red"]["series"]
    assert series == [0, 0, 0, 0, 0, 0, 1]
    assert_counters_exact(db, acme)


# ---------------------------------------------------------------------------------------------- open issues


def test_open_issues_by_stage_in_the_playbooks_order(
        db: Database, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture) -> None:
    add_issue_cast(db, acme, globex)
    first = open_test_issue(db, settings, acme)
    open_test_issue(db, settings, acme, title="Second")
    advance_to(db, settings, acme, first, "discovery", now=ny(2026, 11, 3, 10, 0))

    seen = board(db, settings, acme, 7, ny(2026, 11, 3, 12, 0))["issues"]

    assert seen["open"] == 2
    stages = {row["stage"]: row["count"] for row in seen["by_stage"]}
    assert stages["acknowledgement"] == 1 and stages["discovery"] == 1
    assert [row["stage"] for row in seen["by_stage"]][:2] == ["acknowledgement", "discovery"]
    assert all(row["label"] for row in seen["by_stage"])
    assert sum(stages.values()) == 2
    assert board(db, settings, globex, 7, ny(2026, 11, 3, 12, 0))["issues"]["open"] == 0
