"""The ripple map and the aftermath of an issue (issue 5, parts 2, 6 and 7), on both databases.

One small scenario, built through the real pipeline, is counted exactly: an issue opened at 15:00 on
Friday 13 November 2026 (London is on GMT, so UTC), six linked posts from four people on two channels
between 16:00 and 17:45, three brand replies, one publication at 17:00, the summary read at 18:00.
The workspace runs the default playbook with one SLA policy (first response in 30 minutes around the
clock) so every response time is simple arithmetic. Sentiment and intent are set on the stored
verdicts after the pipeline, so the before / after split does not depend on the models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from typer.testing import CliRunner

from firebreak.channels import service as channel_service
from firebreak.cli.main import app
from firebreak.core.errors import Forbidden, InvalidInput, NotFound
from firebreak.issues import aftermath
from firebreak.issues.models import Draft, DraftVersion, IssueEvent, Publication
from firebreak.issues.newsroom import link_for
from firebreak.issues.ripple import Post, bucket_start, bucket_starts, choose_bucket, ripple_map, tally
from firebreak.mentions.models import Author, Mention
from firebreak.settings import Settings, get_settings
from firebreak.triage.models import MentionTriage
from firebreak.workflow.models import SlaClock
from firebreak.workspaces.models import Workspace
from tests.factories import WorkspaceFixture
from tests.issues_support import (
    ANA,
    LEX,
    OPENED_AT,
    OWEN,
    SUE,
    add_issue_cast,
    advance_to,
    as_actor,
    complete_open_tasks,
    issue_write,
    open_test_issue,
    runtime_of,
    timeline_kinds,
)
from tests.workflow_support import ingest_at, mention_id, playbook_text, post, run_pipeline, use_playbook

NOW = OPENED_AT + timedelta(hours=3)  # 18:00
PUBLISHED_AT = OPENED_AT + timedelta(hours=2)  # 17:00
BASE_URL = "https://firebreak.example"
SCRIPT = "<script>alert('pwned')</script> how do I check my latch firmware?"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 13, hour, minute, tzinfo=UTC)


# Inbound posts: external id -> (channel, handle, posted at, text, url, reply_to, sentiment, intent).
POSTS = {
    "a1": ("x-main", "ann", at(16, 0), "My latch died overnight", "https://x.com/ann/status/1", None,
           "negative", "complaint"),
    "a2": ("reddit", "bob", at(16, 10), "Why does my latch battery die in two days?",
           "https://www.reddit.com/r/smarthome/comments/a2", None, "negative", "complaint"),
    "a4": ("x-main", "ann", at(16, 15), "Still no answer about my latch", None, "a1", "negative", "complaint"),
    "a3": ("x-main", "cat", at(16, 20), SCRIPT, None, None, "neutral", None),
    "a6": ("x-main", "eve", at(17, 35), "latch drained again after the update", None, None, "negative", None),
    "a5": ("x-main", "dan", at(17, 45), "latch fine since the fix, thanks", None, None, "positive", "praise"),
}
# Brand replies: external id -> (channel, posted at, answers).
REPLIES = {"r1": ("x-main", at(16, 20), "a1"), "r4": ("x-main", at(16, 40), "a4"), "r2": ("reddit", at(16, 50), "a2")}


@dataclass(frozen=True)
class Scenario:
    issue_id: int
    ids: dict[str, int]  # mention id by external id
    authors: dict[str, int]  # author id by handle


FOLLOW_UP = "Hi @{handle}, {title} ({brand} issue {issue}) is fixed: {link}. Was it {problem}?"


def sla_playbook() -> str:
    """The default playbook with one SLA policy (a first response within 30 minutes, around the clock) and a
    follow-up template that uses every value the issue can give, and one it cannot ({problem})."""
    document = yaml.safe_load(playbook_text())
    document["sla"]["policies"] = [{"id": "all", "label": "Everything in 30 minutes", "when": {},
                                    "calendar": "always", "first_response": "30m"}]
    document["issues"]["follow_up_template"] = FOLLOW_UP
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def publish_row(db, ws: WorkspaceFixture, issue_id: int, when: datetime, slug: str = "latch-fixed") -> None:  # type: ignore[no-untyped-def]
    """An approved response published on the newsroom at `when` (the rows the publishing service writes)."""
    with db.write() as session:
        draft = Draft(workspace_id=ws.id, issue_id=issue_id, kind="response", title="Latch fix", created_at=when)
        session.add(draft)
        session.flush()
        version = DraftVersion(workspace_id=ws.id, draft_id=draft.id, number=1, body="Fixed in 4.3.",
                               state="approved", author="cora", created_at=when, approved_at=when, approved_by="lex")
        session.add(version)
        session.flush()
        session.add(Publication(workspace_id=ws.id, issue_id=issue_id, version_id=version.id, slug=slug,
                                title="Latch battery drain fixed", body="Fixed in 4.3.", published_at=when,
                                published_by="cora@acme.test", updated_at=when))


def build_scenario(db, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture) -> Scenario:  # type: ignore[no-untyped-def]
    """The issue of the module docstring, through the real pipeline, up to 18:00."""
    add_issue_cast(db, acme, globex)
    use_playbook(db, acme, sla_playbook())
    with db.write() as session:
        channel_service.create_channel(session=session, workspace_id=acme.id, slug="reddit", kind="reddit")
    issue_id = open_test_issue(db, settings, acme, link_rules={"keywords": ["latch"]})
    complete_open_tasks(db, settings, acme, issue_id, now=at(16, 0))
    events: list[tuple[datetime, str, object]] = [(when, "post", ext) for ext, (_, _, when, *_) in POSTS.items()]
    events += [(when, "reply", ext) for ext, (_, when, _) in REPLIES.items()]
    events.append((PUBLISHED_AT, "publish", None))
    events.append((at(17, 30), "advance", None))
    for when, what, ext in sorted(events, key=lambda event: (event[0], event[1])):
        if what == "post":
            channel, handle, _, text, url, reply_to, _, _ = POSTS[ext]  # type: ignore[index]
            fields = {"author": {"handle": handle}, "url": url, "reply_to": reply_to}
            ingest_at(db, acme, [post(ext, text, at=when, **{k: v for k, v in fields.items() if v})],  # type: ignore[arg-type]
                      received_at=when, channel_slug=channel)
        elif what == "reply":
            channel, _, answers = REPLIES[ext]  # type: ignore[index]
            ingest_at(db, acme, [post(ext, "Sorry about that, we're on it", at=when, reply_to=answers,
                                      direction="outbound")], received_at=when, channel_slug=channel)
        elif what == "publish":
            publish_row(db, acme, issue_id, when)
        else:
            advance_to(db, settings, acme, issue_id, "discovery", now=when)
        run_pipeline(db, settings, now=when)
    ids = {ext: mention_id(db, acme, ext) for ext in POSTS}
    with db.write() as session:
        for ext, (*_, sentiment, intent) in POSTS.items():
            session.execute(update(MentionTriage).where(MentionTriage.mention_id == ids[ext])
                            .values(sentiment=sentiment, intent=intent))
    with db.read() as session:
        authors = dict(session.execute(select(Author.handle, Author.id).where(Author.workspace_id == acme.id)).all())
        clocks = dict(session.execute(select(Mention.external_id, SlaClock.metric).join(
            SlaClock, SlaClock.mention_id == Mention.id).where(SlaClock.metric != "resolution")).all())
    assert clocks == {ext: "first_response" for ext in POSTS}, clocks
    return Scenario(issue_id, ids, authors)


@pytest.fixture
def scenario(db, settings, acme, globex) -> Scenario:  # type: ignore[no-untyped-def]
    return build_scenario(db, settings, acme, globex)




def summary_of(db, settings, ws: WorkspaceFixture, issue_id: int, *, now: datetime = NOW):  # type: ignore[no-untyped-def]
    with db.read() as session:
        return aftermath.executive_summary(session, runtime=runtime_of(session, settings, ws), workspace_id=ws.id,
                                           issue_id=issue_id, now=now, base_url=BASE_URL)


def follow_ups_of(db, settings, ws: WorkspaceFixture, issue_id: int, *, base_url: str | None = BASE_URL):  # type: ignore[no-untyped-def]
    with db.read() as session:
        return aftermath.follow_ups(session, runtime=runtime_of(session, settings, ws), workspace_id=ws.id,
                                    issue_id=issue_id, base_url=base_url)


# ---------------------------------------------------------------------------------------------- the ripple map


def test_the_ripple_map_counts_by_channel_site_and_hour_exactly(db, acme, scenario):
    with db.read() as session:
        data = ripple_map(session, workspace_id=acme.id, issue_id=scenario.issue_id, now=NOW)
    assert (data["bucket"], data["timezone"], data["total"]) == ("hour", "UTC", 6)  # the issue is 3 hours old
    assert [(c["channel"], c["kind"], c["count"], c["first_seen"], c["last_seen"]) for c in data["channels"]] == [
        ("x-main", "x", 5, at(16), at(17, 45)), ("reddit", "reddit", 1, at(16, 10), at(16, 10))]
    assert [(s["site"], s["count"], s["first_seen"], s["last_seen"]) for s in data["sites"]] == [
        ("x", 4, at(16, 15), at(17, 45)), ("www.reddit.com", 1, at(16, 10), at(16, 10)),
        ("x.com", 1, at(16), at(16))]
    assert [(slot["start"], slot["total"], slot["channels"], slot["sites"]) for slot in data["series"]] == [
        (at(16), 4, {"x-main": 3, "reddit": 1}, {"x.com": 1, "www.reddit.com": 1, "x": 2}),
        (at(17), 2, {"x-main": 2}, {"x": 2}),
    ]
    assert [(t["channel"], t["conversation_id"], t["count"], t["first_post_at"], t["last_post_at"],
             t["reply_to_external_id"], t["url"]) for t in data["threads"]] == [
        ("x-main", "a1", 2, at(16), at(16, 15), "a4", "https://x.com/ann/status/1"),  # ann's reply is in it
        ("reddit", "a2", 1, at(16, 10), at(16, 10), "a2", "https://www.reddit.com/r/smarthome/comments/a2"),
        ("x-main", "a3", 1, at(16, 20), at(16, 20), "a3", None),
        ("x-main", "a6", 1, at(17, 35), at(17, 35), "a6", None),
        ("x-main", "a5", 1, at(17, 45), at(17, 45), "a5", None),
    ]
    assert data["threads"][0]["reply_to_mention_id"] == scenario.ids["a4"]


def test_the_ripple_map_by_the_day_and_in_the_workspace_time_zone(db, acme, scenario):
    with db.read() as session:
        by_day = ripple_map(session, workspace_id=acme.id, issue_id=scenario.issue_id, now=NOW, bucket="day")
        older = ripple_map(session, workspace_id=acme.id, issue_id=scenario.issue_id, now=NOW + timedelta(days=4))
    assert [(slot["start"], slot["total"]) for slot in by_day["series"]] == [(at(0), 6)]
    assert older["bucket"] == "day"  # more than 3 days old: by the day unless asked
    with db.write() as session:
        session.execute(update(Workspace).where(Workspace.id == acme.id).values(timezone="Asia/Kolkata"))
    with db.read() as session:
        hourly = ripple_map(session, workspace_id=acme.id, issue_id=scenario.issue_id, now=NOW)
        daily = ripple_map(session, workspace_id=acme.id, issue_id=scenario.issue_id, now=NOW, bucket="day")
    # India is 5h30 ahead: its hours start at half past in UTC, and the empty hour between is kept.
    assert [(slot["start"], slot["total"]) for slot in hourly["series"]] == [
        (at(15, 30), 4), (at(16, 30), 0), (at(17, 30), 2)]
    assert hourly["series"][0]["start"].utcoffset() == timedelta(hours=5, minutes=30)
    assert [(slot["start"], slot["total"]) for slot in daily["series"]] == [
        (datetime(2026, 11, 12, 18, 30, tzinfo=UTC), 6)]


def test_an_issue_of_another_workspace_is_not_found(db, settings, acme, globex, scenario):
    with db.read() as session:
        runtime = runtime_of(session, settings, globex)
        for read in (
            lambda: ripple_map(session, workspace_id=globex.id, issue_id=scenario.issue_id, now=NOW),
            lambda: aftermath.follow_ups(session, runtime=runtime, workspace_id=globex.id,
                                         issue_id=scenario.issue_id),
            lambda: aftermath.executive_summary(session, runtime=runtime, workspace_id=globex.id,
                                                issue_id=scenario.issue_id, now=NOW),
            lambda: aftermath.export_timeline(session, workspace_id=globex.id, issue_id=scenario.issue_id),
            lambda: aftermath.list_lessons(session, workspace_id=globex.id, issue_id=scenario.issue_id),
        ):
            with pytest.raises(NotFound, match="does not exist in this workspace"):
                read()


ZONES = [ZoneInfo("UTC"), ZoneInfo("Europe/London"), ZoneInfo("Asia/Kolkata"), ZoneInfo("America/St_Johns")]
MOMENTS = st.datetimes(min_value=datetime(2026, 3, 1), max_value=datetime(2026, 4, 5)).map(
    lambda naive: naive.replace(tzinfo=UTC))  # across London's and St John's spring change


@given(posts=st.lists(st.tuples(st.sampled_from(["x-main", "reddit", "forum"]),
                                st.sampled_from(["x.com", "reddit.com", "forum"]), MOMENTS), max_size=30),
       bucket=st.sampled_from(["hour", "day"]), tz=st.sampled_from(ZONES))
def test_every_post_is_counted_once_in_the_bucket_that_holds_it(posts, bucket, tz):
    counted = tally([Post(channel, site, when) for channel, site, when in posts], bucket=bucket, tz=tz)
    assert counted.total == len(posts) == sum(slot.total for slot in counted.series)
    assert sum(reach.count for reach in counted.channels.values()) == len(posts)
    assert sum(reach.count for reach in counted.sites.values()) == len(posts)
    starts = [slot.start for slot in counted.series]
    assert starts == sorted(set(starts))
    for before, after in zip(starts, starts[1:], strict=False):
        if bucket == "hour":
            assert after - before == timedelta(hours=1)  # these zones' offsets keep whole local hours
        else:
            assert after.astimezone(tz).date() - before.astimezone(tz).date() == timedelta(days=1)
            assert after.astimezone(tz).time() == before.astimezone(tz).time() == datetime.min.time()
    ends: list[datetime | None] = [*starts[1:], None]
    for slot, end in zip(counted.series, ends, strict=False):
        inside = [(c, s) for c, s, when in posts if when >= slot.start and (end is None or when < end)]
        assert slot.total == len(inside)
        assert slot.channels == {c: n for c in {c for c, _ in inside} if (n := sum(1 for x, _ in inside if x == c))}
        assert sum(slot.sites.values()) == slot.total
    for channel, reach in counted.channels.items():
        times = [when for c, _, when in posts if c == channel]
        assert (reach.count, reach.first_seen, reach.last_seen) == (len(times), min(times), max(times))


def test_bucket_starts_cover_a_daylight_saving_change():
    london = ZoneInfo("Europe/London")
    first, last = datetime(2026, 10, 24, 23, 30, tzinfo=UTC), datetime(2026, 10, 25, 2, 10, tzinfo=UTC)
    # 25 October 2026: at 02:00 BST clocks go back to 01:00 GMT, so London's 01:00 happens twice.
    assert bucket_starts(first, last, "hour", london) == [datetime(2026, 10, 24, 23, tzinfo=UTC) + timedelta(hours=n)
                                                          for n in range(4)]
    assert bucket_start(datetime(2026, 10, 25, 12, tzinfo=UTC), "day", london) == datetime(2026, 10, 24, 23,
                                                                                           tzinfo=UTC)
    assert bucket_starts(first, last, "day", london) == [datetime(2026, 10, 24, 23, tzinfo=UTC)]


def test_a_series_too_long_by_the_hour_is_widened_or_refused():
    first, last = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)  # 10 months of posts
    utc = ZoneInfo("UTC")
    assert choose_bucket(opened_at=last, now=last, first=first, last=last, tz=utc) == "day"  # young, yet too long
    with pytest.raises(InvalidInput, match="more than 2208 hours; ask for days") as refused:
        choose_bucket(opened_at=last, now=last, first=first, last=last, tz=utc, asked="hour")
    assert refused.value.field == "bucket"
    assert choose_bucket(opened_at=last, now=last, first=None, last=None, tz=utc) == "hour"


SENTIMENT = st.sampled_from(aftermath.SENTIMENTS)


@given(posts=st.lists(st.tuples(MOMENTS, SENTIMENT), max_size=40), published=st.none() | MOMENTS)
def test_sentiment_is_split_exactly_at_the_first_publication(posts, published):
    split = aftermath.sentiment_split(posts, published)
    sides = [split["before"]] + ([split["after"]] if published is not None else [])
    assert split["after"] is None if published is None else split["after"] is not None
    assert sum(side["count"] for side in sides) == len(posts)
    for side in sides:
        assert side["count"] == sum(side[name] for name in aftermath.SENTIMENTS)
        shares = side["shares"].values()
        assert sum(shares) == pytest.approx(1.0, abs=2e-4) if side["count"] else set(shares) == {0.0}
        for name in aftermath.SENTIMENTS:
            assert side["shares"][name] == (round(side[name] / side["count"], 4) if side["count"] else 0.0)
    after = [s for when, s in posts if published is not None and when >= published]  # the moment itself: after
    if published is not None:
        assert {name: split["after"][name] for name in aftermath.SENTIMENTS} == {
            name: after.count(name) for name in aftermath.SENTIMENTS}


# ---------------------------------------------------------------------------------------------- follow-ups


def test_follow_ups_list_everyone_who_complained_with_their_posts_and_the_message(db, settings, acme, scenario):
    items = follow_ups_of(db, settings, acme, scenario.issue_id)
    ids = scenario.ids
    # cat asked a question (neutral) and dan said thanks: neither complained.
    assert [(i["author_id"], i["handle"], i["network"], i["channel"], i["channels"],
             [p["mention_id"] for p in i["posts"]], i["followed_up"]) for i in items] == [
        (scenario.authors["ann"], "ann", "x", "x-main", ["x-main"], [ids["a1"], ids["a4"]], False),
        (scenario.authors["bob"], "bob", "reddit", "reddit", ["reddit"], [ids["a2"]], False),
        (scenario.authors["eve"], "eve", "x", "x-main", ["x-main"], [ids["a6"]], False),
    ]
    assert [(p["url"], p["posted_at"], p["sentiment"]) for p in items[0]["posts"]] == [
        ("https://x.com/ann/status/1", at(16), "negative"), (None, at(16, 15), "negative")]
    link = link_for(BASE_URL, "acme", "latch-fixed")
    assert items[1]["message"] == f"Hi @bob, Latch battery drain (Acme issue 1) is fixed: {link}. Was it {{problem}}?"
    # Without the public address there is no link to give: the placeholder stays for a person to fill.
    assert follow_ups_of(db, settings, acme, scenario.issue_id, base_url=None)[0]["message"] == (
        "Hi @ann, Latch battery drain (Acme issue 1) is fixed: {link}. Was it {problem}?")


def test_a_follow_up_is_recorded_once_and_only_for_someone_who_complained(db, settings, acme, scenario):
    bob, cat = scenario.authors["bob"], scenario.authors["cat"]
    with issue_write(db, settings, acme) as (session, runtime):
        entry = aftermath.mark_followed_up(session, runtime=runtime, workspace_id=acme.id,
                                           issue_id=scenario.issue_id, author_id=bob,
                                           actor=as_actor(session, acme, SUE), now=NOW, note="DM'd, fixed")
    assert (entry["handle"], entry["followed_up"], entry["followed_up_at"], entry["followed_up_by"]) == (
        "bob", True, NOW, SUE)
    with issue_write(db, settings, acme) as (session, runtime):
        again = aftermath.mark_followed_up(session, runtime=runtime, workspace_id=acme.id,
                                           issue_id=scenario.issue_id, author_id=bob,
                                           actor=as_actor(session, acme, OWEN), now=NOW + timedelta(hours=1))
        assert (again["followed_up_at"], again["followed_up_by"]) == (NOW, SUE)  # the first one stands
        with pytest.raises(NotFound, match=f"author {cat} has no linked complaint in issue 1"):
            aftermath.mark_followed_up(session, runtime=runtime, workspace_id=acme.id, issue_id=scenario.issue_id,
                                       author_id=cat, actor=as_actor(session, acme, OWEN), now=NOW)
        with pytest.raises(Forbidden, match="'respond' permission"):
            aftermath.mark_followed_up(session, runtime=runtime, workspace_id=acme.id, issue_id=scenario.issue_id,
                                       author_id=bob, actor=as_actor(session, acme, LEX), now=NOW)
    with db.read() as session:
        events = session.scalars(select(IssueEvent).where(IssueEvent.kind == aftermath.FOLLOWED_UP)).all()
        assert [(e.actor, e.details) for e in events] == [
            (SUE, {"author_id": bob, "handle": "bob", "note": "DM'd, fixed"})]
    items = follow_ups_of(db, settings, acme, scenario.issue_id)
    assert [i["followed_up"] for i in items] == [False, True, False]
    assert summary_of(db, settings, acme, scenario.issue_id)["follow_ups"] == {"authors": 3, "done": 1}


# ---------------------------------------------------------------------------------------------- the summary


def test_the_executive_summary_numbers_are_exact(db, settings, acme, scenario):
    summary = summary_of(db, settings, acme, scenario.issue_id)
    assert summary["issue"]["stage"] == "discovery" and summary["issue"]["owner"] == OWEN
    assert [(s["stage"], s["entered_at"], s["left_at"], s["seconds"], s["business_seconds"], s["goal"],
             s["due_at"], s["overdue"], s["late_by_seconds"], s["current"]) for s in summary["stages"]] == [
        ("acknowledgement", OPENED_AT, at(17, 30), 9000.0, 9000.0, "2h", at(17), True, 1800.0, False),
        # Discovery runs on the support hours (Friday until 20:00): 30 minutes so far, due two open days on.
        ("discovery", at(17, 30), None, 1800.0, 1800.0, "2bd", datetime(2026, 11, 16, 17, 30, tzinfo=UTC), False,
         None, True),
    ]
    volumes = summary["volumes"]
    assert (volumes["total"], volumes["threads"], volumes["bucket"]) == (6, 5, "hour")
    assert [(c["channel"], c["count"]) for c in volumes["channels"]] == [("x-main", 5), ("reddit", 1)]
    assert summary["sentiment"] == {
        "first_publication_at": PUBLISHED_AT,
        "before": {"count": 4, "negative": 3, "neutral": 1, "positive": 0,
                   "shares": {"negative": 0.75, "neutral": 0.25, "positive": 0.0}},
        "after": {"count": 2, "negative": 1, "neutral": 0, "positive": 1,
                  "shares": {"negative": 0.5, "neutral": 0.0, "positive": 0.5}},
    }
    # Goal 30m: a1 answered in 20m and a4 in 25m (in time), a2 in 40m (late); at 18:00 a3 has waited 100m
    # (late), a6 25m and a5 15m (waiting). The median counts the answered ones: 20m, 25m, 40m.
    policy = {"policy": "all", "goal_seconds": 1800.0, "mentions": 6, "in_time": 2, "late": 2, "waiting": 2,
              "cancelled": 0, "median_seconds": 1500.0}
    assert summary["first_response"] == {"mentions": 6, "in_time": 2, "late": 2, "waiting": 2, "cancelled": 0,
                                         "without_goal": 0, "compliance": 0.5, "median_seconds": 1500.0,
                                         "policies": [policy]}
    assert (summary["tasks"]["done"], summary["tasks"]["open"]) == (4, 4)
    assert [(p["slug"], p["published_at"], p["url"]) for p in summary["publications"]] == [
        ("latch-fixed", PUBLISHED_AT, link_for(BASE_URL, "acme", "latch-fixed"))]
    assert summary["follow_ups"] == {"authors": 3, "done": 0}
    assert [t["conversation_id"] for t in summary["threads"]] == ["a1", "a2", "a3", "a6", "a5"]  # busiest first
    assert summary["threads"][0]["excerpt"] == "Still no answer about my latch"  # its latest post
    assert [e["kind"] for e in summary["timeline"]] == timeline_kinds(db, scenario.issue_id)


def test_the_summary_of_a_quiet_issue_has_nothing_to_compare(db, settings, acme, globex):
    add_issue_cast(db, acme, globex)
    issue_id = open_test_issue(db, settings, acme)
    summary = summary_of(db, settings, acme, issue_id, now=OPENED_AT + timedelta(minutes=30))
    assert summary["sentiment"] == {"first_publication_at": None, "after": None, "before": {
        "count": 0, "negative": 0, "neutral": 0, "positive": 0,
        "shares": {"negative": 0.0, "neutral": 0.0, "positive": 0.0}}}
    assert summary["first_response"]["compliance"] is None and summary["first_response"]["median_seconds"] is None
    assert summary["volumes"]["total"] == 0 and summary["threads"] == [] and summary["publications"] == []
    assert [(s["stage"], s["seconds"], s["overdue"]) for s in summary["stages"]] == [("acknowledgement", 1800.0,
                                                                                      False)]
    page = aftermath.summary_html(summary)
    assert "Nothing published yet" in page and "<td>" in page


def test_the_html_summary_is_one_printable_page_with_everything_escaped(db, settings, acme, scenario):
    with issue_write(db, settings, acme) as (session, runtime):
        aftermath.add_lesson(session, runtime=runtime, workspace_id=acme.id, issue_id=scenario.issue_id,
                             actor=as_actor(session, acme, OWEN), now=NOW, text="<img src=x onerror=alert(1)> lesson",
                             proposed_change="sla:\n  warn_at: 0.5  # <b>earlier</b>\n")
    page = aftermath.summary_html(summary_of(db, settings, acme, scenario.issue_id))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<title>Issue 1: Latch battery drain — executive summary</title>" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; how do I check my latch firmware?" in page
    assert "&lt;img src=x onerror=alert(1)&gt; lesson" in page and "&lt;b&gt;earlier&lt;/b&gt;" in page
    assert "overdue by 30m" in page  # the acknowledgement
    assert '<a href="https://firebreak.example/newsroom/acme/latch-fixed">Latch battery drain fixed</a>' in page
    assert "@media print" in page and "<link" not in page  # self-contained
    assert "3 (75.0%)" in page and "1 (50.0%)" in page  # negative before and after publishing


# ---------------------------------------------------------------------------------------------- lessons


def test_lessons_propose_playbook_changes_and_bad_ones_are_refused_naming_the_problem(db, settings, acme,
                                                                                      scenario):
    change = "sla:\n  warn_at: 0.5\nissues:\n  publish_throttle: 10s\n"
    with issue_write(db, settings, acme) as (session, runtime):
        context = {"runtime": runtime, "workspace_id": acme.id, "issue_id": scenario.issue_id, "now": NOW}
        first = aftermath.add_lesson(session, **context, actor=as_actor(session, acme, OWEN),
                                     text="Link rules should be set at acknowledgement", proposed_change=change)
        second = aftermath.add_lesson(session, **context, actor=as_actor(session, acme, SUE),
                                      text="Support heard about it first", proposed_change="  ")
    assert (first["sections"], first["proposed_change"], first["author"]) == (["sla", "issues"], change, OWEN)
    assert (second["sections"], second["proposed_change"], second["author"]) == ([], None, SUE)

    refusals = {
        "slas:\n  warn_at: 0.5\n": "names 'slas', which is not a playbook section; sections are playbook, risk",
        "sla: {}\ntemplates: {}\nrouting: {}\nfoo: 1\n": "names 'templates', 'foo', which are not playbook sections",
        "- sla\n- issues\n": "must be a YAML mapping of playbook sections (e.g. 'sla:' or 'issues:'), not a list",
        "just words": "must be a YAML mapping of playbook sections (e.g. 'sla:' or 'issues:'), not a str",
        "sla: [1, 2\n": "is not valid YAML: line 2, column 1:",
        "{}": "is an empty mapping: it changes nothing",
    }
    with issue_write(db, settings, acme) as (session, runtime):
        context = {"runtime": runtime, "workspace_id": acme.id, "issue_id": scenario.issue_id, "now": NOW}
        owen = as_actor(session, acme, OWEN)
        for text, message in refusals.items():
            with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)").replace(
                    "[", r"\[")) as refused:
                aftermath.add_lesson(session, **context, actor=owen, text="a lesson", proposed_change=text)
            assert refused.value.field == "proposed_change"
        with pytest.raises(InvalidInput, match="a lesson needs a text") as refused:
            aftermath.add_lesson(session, **context, actor=owen, text="   ")
        assert refused.value.field == "text"
        with pytest.raises(Forbidden, match="needs the 'open_issue' permission"):
            aftermath.add_lesson(session, **context, actor=as_actor(session, acme, ANA), text="not my issue")

    with db.read() as session:
        lessons = aftermath.list_lessons(session, workspace_id=acme.id, issue_id=scenario.issue_id)
    assert [(lesson["text"], lesson["sections"]) for lesson in lessons] == [
        ("Link rules should be set at acknowledgement", ["sla", "issues"]), ("Support heard about it first", [])]
    assert timeline_kinds(db, scenario.issue_id)[-2:] == [aftermath.LESSON_ADDED, aftermath.LESSON_ADDED]


# ---------------------------------------------------------------------------------------------- the timeline


def test_the_exported_timeline_is_every_event_in_order(db, settings, acme, scenario):
    with issue_write(db, settings, acme) as (session, runtime):
        aftermath.mark_followed_up(session, runtime=runtime, workspace_id=acme.id, issue_id=scenario.issue_id,
                                   author_id=scenario.authors["ann"], actor=as_actor(session, acme, OWEN), now=NOW)
    with db.read() as session:
        events = aftermath.export_timeline(session, workspace_id=acme.id, issue_id=scenario.issue_id)
    kinds = [event["kind"] for event in events]
    assert kinds == timeline_kinds(db, scenario.issue_id)
    assert [event["id"] for event in events] == sorted(event["id"] for event in events)
    assert kinds[0] == "issue.opened" and kinds[-1] == aftermath.FOLLOWED_UP
    assert kinds.count("task.done") == 4 and kinds.count("stage.moved") == 1
    # The rules linked the six posts as they arrived, one event per pipeline batch that linked any.
    linked = [event for event in events if event["kind"] == "mentions.linked"]
    assert sorted(m for event in linked for m in event["details"]["mention_ids"]) == sorted(scenario.ids.values())
    assert all(event["actor"] == "link rules" for event in linked)
    assert events[-1]["details"]["handle"] == "ann" and events[-1]["at"] == NOW


# ---------------------------------------------------------------------------------------------- from the shell


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Run `firebreak ARGS` against this test's database."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    env = {"FIREBREAK_DATABASE_URL": database_url, "FIREBREAK_DATA_DIR": str(tmp_path),
           "FIREBREAK_PUBLIC_URL": BASE_URL, "COLUMNS": "160"}

    def run(*args: str) -> Result:
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args), env=env)

    yield run
    get_settings.cache_clear()


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_the_aftermath_from_the_shell(cli, db, acme, scenario, tmp_path):
    issue = str(scenario.issue_id)
    table = ok(cli("aftermath", "ripple", "-w", "acme", issue, "--bucket", "hour"))
    assert "6 linked mention(s), by the hour" in table
    assert "x-main" in table and "www.reddit.com" in table and "https://x.com/ann/status/1" in table
    as_json = orjson.loads(ok(cli("aftermath", "ripple", "-w", "acme", issue, "--bucket", "day", "--json")))
    assert [(slot["start"], slot["total"]) for slot in as_json["series"]] == [("2026-11-13T00:00:00+00:00", 6)]

    listed = ok(cli("aftermath", "followups", "-w", "acme", issue))
    link = link_for(BASE_URL, "acme", "latch-fixed")
    assert f"Hi @ann, Latch battery drain (Acme issue 1) is fixed: {link}." in listed
    assert "3 author(s), 0 followed up." in listed
    bob = str(scenario.authors["bob"])
    assert "followed up" in ok(cli("aftermath", "followed-up", "-w", "acme", issue, bob, "--note", "called",
                                   "--as", SUE))
    refused = cli("aftermath", "followed-up", "-w", "acme", issue, bob, "--as", LEX)
    assert refused.exit_code == 2 and "'respond' permission" in refused.output
    pending = orjson.loads(ok(cli("aftermath", "followups", "-w", "acme", issue, "--pending", "--json")))
    assert [entry["handle"] for entry in pending] == ["ann", "eve"]

    change = tmp_path / "change.yaml"
    change.write_text("sla:\n  warn_at: 0.5\n", encoding="utf-8")
    assert "proposing changes to sla" in ok(cli("aftermath", "lesson", "-w", "acme", issue, "Set rules early",
                                                "--change", str(change), "--as", OWEN))
    change.write_text("slas:\n  warn_at: 0.5\n", encoding="utf-8")
    refused = cli("aftermath", "lesson", "-w", "acme", issue, "Typo", "--change", str(change))
    assert refused.exit_code == 2 and "'slas', which is not a playbook section" in refused.output
    assert "Set rules early" in ok(cli("aftermath", "lessons", "-w", "acme", issue))

    page = tmp_path / "summary.html"
    ok(cli("aftermath", "summary", "-w", "acme", issue, "--format", "html", "--output", str(page)))
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "&lt;script&gt;" in html and "<script" not in html
    summary = orjson.loads(ok(cli("aftermath", "summary", "-w", "acme", issue, "--format", "json")))
    assert summary["sentiment"]["before"]["count"] == 4 and summary["follow_ups"] == {"authors": 3, "done": 1}
    text = ok(cli("aftermath", "summary", "-w", "acme", issue))
    assert "Issue 1: Latch battery drain" in text and "OVERDUE" in text and "follow-ups: 1 of 3" in text
    timeline = orjson.loads(ok(cli("aftermath", "timeline", "-w", "acme", issue, "--json")))
    assert [event["kind"] for event in timeline] == timeline_kinds(db, scenario.issue_id)
    assert "lesson.added" in ok(cli("aftermath", "timeline", "-w", "acme", issue))
