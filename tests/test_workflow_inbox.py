"""The inbox query: urgency and newest order, every filter, keyset pages that walk each row once while work
changes, full-text search, and the change feed behind the live inbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from firebreak.core.errors import InvalidInput
from firebreak.db.engine import Database
from firebreak.mentions.models import Mention
from firebreak.settings import Settings
from firebreak.triage.models import MentionTriage
from firebreak.workflow import actions, inbox
from firebreak.workflow.inbox import ChangeFeed, InboxFilter, Mark
from firebreak.workflow.models import OPEN_STATES, WORK_STATES, WorkItem
from tests.factories import WorkspaceFixture
from tests.workflow_support import TUESDAY_MORNING, Cast, actor, add_cast, ingest_at, post, run_pipeline, services_for

NOW = TUESDAY_MORNING  # 10:00 in London and UTC: the care team is on shift, so most work is assigned
TEXTS = (
    "My lawyer will be in touch about this.",  # red, escalations, due in 5 minutes
    "Please change my booking ABC123 to Friday",  # yellow, customer support
    "How do I set up two-factor login on my new account?",  # green, customer support
    "this deal is killer",  # green praise that needs no reply: no clock, left unassigned
    "Your website is down again, error 500 at checkout",  # yellow, IT issue
    "see you in court @acme",  # red
)


@dataclass(frozen=True)
class Item:
    """A work item as the tests compute the expected inbox from it, independently of the query."""

    id: int
    state: str
    queue: str
    assignee_id: int | None
    due: datetime | None
    opened: datetime
    flag: str
    category: str
    channel_id: int
    text: str

    @property
    def urgency(self) -> tuple[int, datetime, int]:
        return (0, self.due, self.id) if self.due is not None else (1, self.opened, self.id)

    @property
    def newest(self) -> tuple[datetime, int]:
        return self.opened, self.id


@pytest.fixture
def cast(db: Database, acme: WorkspaceFixture, globex: WorkspaceFixture) -> Cast:
    return add_cast(db, acme, globex)


@pytest.fixture
def scene(db: Database, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture, cast: Cast) -> None:
    """30 acme mentions received over two days (some at the same instant, some on the webhook channel), worked
    by the pipeline; two handed back to the queue, two resolved and one closed; and globex's own, which
    acme's inbox must never show."""
    for n in range(30):
        received = NOW - timedelta(minutes=(n // 3) * 137)  # threes share an instant: ties to break by id
        channel = "hooks" if n % 5 == 0 else "x-main"
        author = {"author": {"handle": "pat", "followers": 1200, "tags": ["customer"]}} if n == 0 else {}
        ingest_at(db, acme, [post(f"a{n}", f"{TEXTS[n % len(TEXTS)]} ref{n}", at=received, **author)],
                  received_at=received, channel_slug=channel)
    ingest_at(db, globex, [post("g1", "My lawyer will be in touch about this.", at=NOW),
                           post("g2", "see you in court @globex", at=NOW)], received_at=NOW)
    run_pipeline(db, settings, now=NOW)
    items = everything(db, acme)
    lee = actor(db, acme, "lee@acme.test")
    with db.write() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        for mention_id, state in ((items[1].id, "resolved"), (items[2].id, "resolved"), (items[4].id, "closed")):
            actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=mention_id,
                                 to_state=state, actor=lee, reason="handled by phone", now=NOW)
        for item in (items[7], items[8]):
            actions.assign(session, runtime=runtime, workspace_id=acme.id, mention_id=item.id, assignee_email=None,
                           actor=lee, reason="back to the queue", now=NOW)


def everything(db: Database, ws: WorkspaceFixture) -> list[Item]:
    """Every work item of the workspace, in mention id order."""
    with db.read() as session:
        rows = session.execute(
            select(WorkItem.mention_id, WorkItem.state, WorkItem.queue, WorkItem.assignee_id, WorkItem.sla_due_at,
                   WorkItem.opened_at, MentionTriage.flag, MentionTriage.category, Mention.channel_id, Mention.text)
            .join(Mention, Mention.id == WorkItem.mention_id)
            .join(MentionTriage, MentionTriage.mention_id == WorkItem.mention_id)
            .where(WorkItem.workspace_id == ws.id).order_by(WorkItem.mention_id)).all()
    return [Item(*row) for row in rows]


def walk(db: Database, ws: WorkspaceFixture, where: InboxFilter = InboxFilter(), *, sort: str = "urgency",
         limit: int = inbox.PAGE_SIZE, between_pages=None) -> list[int]:  # type: ignore[no-untyped-def]
    """Every page from the first to the last, following the cursors; the ids in page order."""
    seen: list[int] = []
    cursor = None
    for _ in range(1000):
        with db.read() as session:
            page = inbox.list_inbox(session, workspace_id=ws.id, where=where, sort=sort, cursor=cursor, limit=limit)
        assert len(page.rows) <= limit
        assert page.rows or cursor is None, "a cursor never leads to an empty page"
        seen.extend(row.mention_id for row in page.rows)
        if page.next_cursor is None:
            return seen
        assert len(page.rows) == limit
        cursor = page.next_cursor
        if between_pages is not None:
            between_pages(len(seen))
    raise AssertionError("the cursor never reached the last page")


def expected(items: list[Item], *, sort: str = "urgency", keep=lambda item: item.state in OPEN_STATES) -> list[int]:  # type: ignore[no-untyped-def]
    chosen = [item for item in items if keep(item)]
    if sort == "newest":
        return [item.id for item in sorted(chosen, key=lambda item: item.newest, reverse=True)]
    return [item.id for item in sorted(chosen, key=lambda item: item.urgency)]


def test_urgency_puts_the_soonest_due_first_and_work_without_a_clock_last(db, acme, scene):
    items = everything(db, acme)
    ids = walk(db, acme)
    assert ids == expected(items)
    by_id = {item.id: item for item in items}
    first = by_id[ids[0]]
    assert first.flag == "red" and first.due == min(item.due for item in items if item.due) and first.due < NOW
    clocked = [by_id[i].due is not None for i in ids]
    assert clocked == sorted(clocked, reverse=True) and not clocked[-1] and clocked[0]
    assert len(ids) == 27  # 30 less the two resolved and the closed one; none of globex's


def test_newest_first_breaks_ties_by_id(db, acme, scene):
    items = everything(db, acme)
    ids = walk(db, acme, sort="newest")
    assert ids == expected(items, sort="newest")
    opened = {item.id: item.opened for item in items}
    assert opened[ids[0]] == NOW and opened[ids[-1]] == NOW - timedelta(minutes=9 * 137)
    every = walk(db, acme, InboxFilter(states=WORK_STATES), sort="newest", limit=2)
    assert every == expected(items, sort="newest", keep=lambda item: True)
    assert every[:3] == sorted(every[:3], reverse=True) and opened[every[0]] == opened[every[2]]


def test_a_page_carries_what_a_row_shows(db, acme, scene):
    with db.read() as session:
        page = inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(flag="red"), sort="newest",
                                limit=1)
    row = page.rows[0]  # a0, received now
    assert (row.flag, row.category, row.queue, row.action) == ("red", "legal_threat", "escalations", "escalate")
    assert (row.channel_slug, row.channel_name, row.channel_kind) == ("hooks", "hooks", "webhook")
    assert (row.author_handle, row.author_followers, row.author_tags) == ("pat", 1200, ("customer",))
    assert row.assignee and row.assignee.endswith("@acme.test") and row.opened_at == NOW
    assert row.sla_due_at == NOW + timedelta(minutes=5) and row.seconds_left(NOW) == 300
    assert row.text == "My lawyer will be in touch about this. ref0" and row.revision == 1
    assert page.next_cursor is not None


@pytest.mark.parametrize("sort", inbox.SORTS)
def test_each_filter_lists_exactly_the_matching_work(db, acme, scene, cast, sort):
    items = everything(db, acme)
    assert {item.flag for item in items} == {"red", "yellow", "green"}
    assert {item.assignee_id for item in items} > {None} and len({item.queue for item in items}) >= 3
    first_day = NOW - timedelta(minutes=4 * 137)
    cases = [
        (InboxFilter(flag="red"), lambda i: i.flag == "red"),
        (InboxFilter(category="transaction_request"), lambda i: i.category == "transaction_request"),
        (InboxFilter(channel_id=acme.webhook_channel_id), lambda i: i.channel_id == acme.webhook_channel_id),
        (InboxFilter(queue="customer_support"), lambda i: i.queue == "customer_support"),
        (InboxFilter(assignee_id=cast.ana), lambda i: i.assignee_id == cast.ana),
        (InboxFilter(unassigned=True), lambda i: i.assignee_id is None),
        (InboxFilter(received_from=first_day), lambda i: i.opened >= first_day),
        (InboxFilter(received_before=first_day), lambda i: i.opened < first_day),
        (InboxFilter(search="LAWYER touch"), lambda i: "lawyer" in i.text.lower()),
        (InboxFilter(search="court"), lambda i: "court" in i.text),
        (InboxFilter(search="ref7"), lambda i: i.text.endswith(" ref7")),
        (InboxFilter(flag="green", queue="customer_support", unassigned=False, search="account"),
         lambda i: i.flag == "green" and i.queue == "customer_support" and "account" in i.text),
    ]
    for where, keep in cases:
        wanted = expected(items, sort=sort, keep=lambda i, keep=keep, where=where: i.state in where.states and keep(i))
        assert wanted, f"{where} should match something"
        assert walk(db, acme, where, sort=sort, limit=4) == wanted, where
    states = [
        ("open", lambda i: i.state in OPEN_STATES), ("all", lambda i: True),
        ("resolved", lambda i: i.state == "resolved"), ("closed", lambda i: i.state == "closed"),
        ("assigned", lambda i: i.state == "assigned"),
    ]
    for choice, keep in states:
        assert walk(db, acme, InboxFilter(states=inbox.states_for(choice)), sort=sort, limit=5) == expected(
            items, sort=sort, keep=keep), choice
    assert walk(db, acme, InboxFilter(states=("waiting",)), sort=sort) == []


def test_search_reads_words_not_query_syntax_and_stays_in_the_workspace(db, acme, globex, scene):
    for odd in ('court"*', "court) (", "court:", "-court^", "(court*", "'court'"):
        found = walk(db, acme, InboxFilter(search=odd))
        assert found and all("court" in item.text for item in everything(db, acme) if item.id in found), odd
    assert walk(db, acme, InboxFilter(search="heaters")) == []
    globex_ids = {item.id for item in everything(db, globex)}
    assert globex_ids and not globex_ids & set(walk(db, acme, InboxFilter(search="lawyer", states=WORK_STATES)))
    with pytest.raises(InvalidInput, match="at least one word"):
        InboxFilter(search="!!! ...")
    with pytest.raises(InvalidInput, match="at most 200"):
        InboxFilter(search="word " * 41)


@pytest.mark.parametrize("sort", inbox.SORTS)
def test_the_cursor_walks_every_row_once_while_work_arrives_and_changes(db, settings, acme, scene, cast, sort):
    before = everything(db, acme)
    lee = actor(db, acme, "lee@acme.test")
    later_ones = iter(range(100, 200))
    closed: set[int] = set()
    reassigned: set[int] = set()

    def meanwhile(shown: set[int]) -> None:
        # New work arrives (some received now, some backfilled into the past), someone takes work not shown
        # yet, and someone closes work already shown.
        n = next(later_ones)
        received = NOW + timedelta(seconds=n) if n % 2 else NOW - timedelta(days=3, seconds=n)
        ingest_at(db, acme, [post(f"late{n}", f"{TEXTS[n % len(TEXTS)]} late{n}", at=received)],
                  received_at=received)
        run_pipeline(db, settings, now=NOW)
        with db.write() as session:
            runtime = services_for(settings).workflow(session, acme.id)
            unseen = [item.id for item in before if item.id not in shown and item.state == "new"
                      and item.assignee_id is None and item.id not in reassigned]
            if unseen:
                actions.assign(session, runtime=runtime, workspace_id=acme.id, mention_id=unseen[-1],
                               assignee_email="lee@acme.test", actor=lee, reason=None, now=NOW)
                reassigned.add(unseen[-1])
            done = sorted(shown - closed)
            if done:
                actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=done[0],
                                     to_state="closed", actor=lee, reason="duplicate", now=NOW)
                closed.add(done[0])

    seen: list[int] = []
    cursor = None
    while True:
        with db.read() as session:
            page = inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(), sort=sort, cursor=cursor,
                                    limit=4)
        seen.extend(row.mention_id for row in page.rows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        meanwhile(set(seen))
    assert reassigned and closed, "the walk must have changed rows under the cursor"
    duplicates = [mention_id for mention_id, times in Counter(seen).items() if times > 1]
    assert duplicates == []
    open_before = {item.id for item in before if item.state in OPEN_STATES}
    # Every item open at the start and still open at the end was shown exactly once: taking work moves it
    # between states, not along the order, and closing only removes items already shown.
    assert open_before <= set(seen)
    late = {item.id for item in everything(db, acme)} - {item.id for item in before}
    assert late, "new work arrived during the walk"
    assert set(seen) - open_before <= late


def test_a_walk_with_a_page_of_one_and_a_page_of_everything(db, acme, scene):
    items = everything(db, acme)
    assert walk(db, acme, limit=1) == expected(items)
    assert walk(db, acme, sort="newest", limit=1) == expected(items, sort="newest")
    with db.read() as session:
        page = inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(), limit=200)
    assert [row.mention_id for row in page.rows] == expected(items) and page.next_cursor is None


def test_damaged_or_foreign_cursors_are_refused(db, acme, scene):
    with db.read() as session:
        first = inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(), limit=3)
        assert first.next_cursor
        for damaged in ("not-a-cursor", first.next_cursor[:-4], "eyJ2Ijo5fQ", "e30"):
            with pytest.raises(InvalidInput, match="damaged or out of date") as refused:
                inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(), cursor=damaged)
            assert refused.value.field == "cursor"
        with pytest.raises(InvalidInput, match="urgency order"):
            inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(), sort="newest",
                             cursor=first.next_cursor)
        with pytest.raises(InvalidInput, match="unknown order"):
            inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(), sort="oldest")
        with pytest.raises(InvalidInput, match="page size"):
            inbox.list_inbox(session, workspace_id=acme.id, where=InboxFilter(), limit=0)


def test_bad_filters_name_the_field():
    for build, field in ((lambda: InboxFilter(flag="purple"), "flag"), (lambda: InboxFilter(states=()), "state"),
                         (lambda: InboxFilter(states=("snoozed",)), "state"),
                         (lambda: InboxFilter(assignee_id=1, unassigned=True), "assignee"),
                         (lambda: inbox.states_for("snoozed"), "state")):
        with pytest.raises(InvalidInput) as refused:
            build()
        assert refused.value.field == field
    assert inbox.states_for("") == OPEN_STATES and inbox.states_for("all") == WORK_STATES
    assert inbox.states_for("waiting") == ("waiting",)


def test_received_windows_are_recent_spans_or_whole_days_in_the_workspace_zone():
    london, now = ZoneInfo("Europe/London"), datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

    def window(since: str = "", start: str = "", end: str = "", zone=london):  # type: ignore[no-untyped-def]
        return inbox.received_window(since=since, date_from=start, date_to=end, now=now, zone=zone)

    assert window("24h") == (now - timedelta(hours=24), None)
    assert window("7d") == (now - timedelta(days=7), None)
    # Summer time: a London day starts at 23:00 UTC the day before; the end date is included.
    assert window(start="2026-06-01", end="2026-06-02") == (datetime(2026, 5, 31, 23, tzinfo=UTC),
                                                           datetime(2026, 6, 2, 23, tzinfo=UTC))
    assert window(start="2026-06-01T09:30") == (datetime(2026, 6, 1, 8, 30, tzinfo=UTC), None)
    assert window(end="2026-06-01T09:30+00:00") == (None, datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
    assert window() == (None, None)
    for since, start, end, field in (("2h", "", "", "since"), ("1h", "2026-06-01", "", "since"),
                                     ("", "yesterday", "", "from"), ("", "", "2026-13-01", "to"),
                                     ("", "2026-06-02", "2026-06-01", "to")):
        with pytest.raises(InvalidInput) as refused:
            window(since, start, end)
        assert refused.value.field == field


def test_matching_says_which_changed_items_a_filtered_inbox_lists(db, acme, globex, scene):
    items = everything(db, acme)
    reds = {item.id for item in items if item.flag == "red" and item.state in OPEN_STATES}
    foreign = {item.id for item in everything(db, globex)}
    with db.read() as session:
        found = inbox.matching(session, workspace_id=acme.id, where=InboxFilter(flag="red"),
                               mention_ids=[item.id for item in items] + sorted(foreign))
        assert found == reds
        assert inbox.matching(session, workspace_id=acme.id, where=InboxFilter(), mention_ids=[]) == set()


# ---------------------------------------------------------------------------------------------- change feed


def test_the_change_feed_gives_new_and_changed_work_once(db, settings, acme, globex, cast):
    with db.read() as session:
        feed = ChangeFeed.start(session, workspace_id=acme.id)
        assert feed.mark is None and feed.poll(session) == []
    ingest_at(db, acme, [post("f1", "see you in court @acme", at=NOW)], received_at=NOW)
    ingest_at(db, globex, [post("f1", "see you in court @globex", at=NOW)], received_at=NOW)
    run_pipeline(db, settings, now=NOW)
    first = everything(db, acme)[0].id
    with db.read() as session:
        changes = feed.poll(session)
        assert [(c.mention_id, c.revision, c.created) for c in changes] == [(first, 1, True)]
        assert feed.poll(session) == []
    lee = actor(db, acme, "lee@acme.test")
    with db.write() as session:
        runtime = services_for(settings).workflow(session, acme.id)
        actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=first, to_state="resolved",
                             actor=lee, reason=None, now=NOW + timedelta(seconds=1))
    with db.read() as session:
        changes = feed.poll(session)
        assert [(c.mention_id, c.revision, c.state, c.created) for c in changes] == [(first, 2, "resolved", False)]
        assert feed.mark == Mark(NOW + timedelta(seconds=1), first)
        assert feed.poll(session) == []


def test_a_change_committed_late_with_an_older_time_is_still_given(db, settings, acme, globex, cast):
    """A slow transaction stamps its change before a faster one commits a newer change: the lookback catches it."""
    ingest_at(db, acme, [post(f"s{n}", f"see you in court ref{n}", at=NOW) for n in range(3)], received_at=NOW)
    run_pipeline(db, settings, now=NOW)
    one, two, three = (item.id for item in everything(db, acme))
    lee = actor(db, acme, "lee@acme.test")
    with db.read() as session:
        feed = ChangeFeed.start(session, workspace_id=acme.id)
    assert feed.mark == Mark(NOW, three)

    def resolve(mention_id: int, at: datetime) -> None:
        with db.write() as session:
            runtime = services_for(settings).workflow(session, acme.id)
            actions.change_state(session, runtime=runtime, workspace_id=acme.id, mention_id=mention_id,
                                 to_state="resolved", actor=lee, reason=None, now=at)

    resolve(two, NOW + timedelta(seconds=8))
    with db.read() as session:
        assert [c.mention_id for c in feed.poll(session)] == [two]
    resolve(one, NOW + timedelta(seconds=3))  # stamped 5 s before the change already given
    with db.read() as session:
        assert [(c.mention_id, c.revision) for c in feed.poll(session)] == [(one, 2)]
        assert feed.mark == Mark(NOW + timedelta(seconds=8), two) and feed.poll(session) == []
        # A client coming back with the last event's mark may hear the lookback window again (and knows
        # each change by item and revision); nothing older than the window.
        again = ChangeFeed.resume(workspace_id=acme.id, mark=Mark(NOW + timedelta(seconds=8), two)).poll(session)
        assert {(c.mention_id, c.revision) for c in again} == {(one, 2), (two, 2), (three, 1)}
        assert ChangeFeed.resume(workspace_id=acme.id, mark=Mark(NOW + timedelta(seconds=30), two)).poll(session) == []


def test_a_feed_reads_a_burst_larger_than_its_batch(db, settings, acme, globex, cast):
    with db.read() as session:
        feed = ChangeFeed.start(session, workspace_id=acme.id, batch=4)
    ingest_at(db, acme, [post(f"b{n}", f"Please change my booking ref{n}", at=NOW) for n in range(11)],
              received_at=NOW)
    run_pipeline(db, settings, now=NOW)
    with db.read() as session:
        assert sorted(c.mention_id for c in feed.poll(session)) == [item.id for item in everything(db, acme)]
        assert feed.poll(session) == []


def test_marks_survive_the_trip_through_a_client():
    mark = Mark(datetime(2026, 11, 10, 10, 0, 0, 123456, tzinfo=UTC), 42)
    assert Mark.decode(mark.encode()) == mark
    for damaged in (None, "", "42", "yesterday~42", "2026-11-10T10:00:00~x", "2026-11-10T10:00:00~42"):
        assert Mark.decode(damaged) is None, damaged


@pytest.mark.parametrize("sort", inbox.SORTS)
def test_a_search_for_common_words_reads_the_same_rows(db, acme, scene, monkeypatch, sort):
    """SQLite reads common words in order instead of hit by hit (inbox._Plan); the rows must not change."""
    searches = [InboxFilter(search="court"), InboxFilter(search="my", states=WORK_STATES),
                InboxFilter(search="booking", received_from=NOW - timedelta(hours=12))]
    rare = [walk(db, acme, where, sort=sort, limit=3) for where in searches]
    monkeypatch.setattr(inbox, "DENSE_HITS", 2)
    assert [walk(db, acme, where, sort=sort, limit=3) for where in searches] == rare
    assert all(rare), "each search finds something"
