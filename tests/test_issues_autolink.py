"""Mentions linked to open issues automatically as they arrive (issue 5, part 2), on both databases.

The pipeline tests ingest posts on several channels, drain them through every built-in stage and read
the links the `issues` stage stored; the matcher tests check the rules themselves (whole words,
normalised text, products as hashtags, categories) without a database.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from firebreak.channels import service as channel_service
from firebreak.issues import autolink, service
from firebreak.issues.links import link_mentions
from firebreak.issues.models import Issue, IssueEvent, IssueMention
from firebreak.mentions.models import Mention
from tests.issues_support import LEE, OPENED_AT, add_issue_cast, as_actor, issue_write, open_test_issue
from tests.workflow_support import ingest_at, mention_id, post, run_pipeline

RULES = {"keywords": ["battery drain", "latch"], "categories": ["legal_threat"]}
ARRIVED = OPENED_AT + timedelta(hours=1)


def _channels(db, ws) -> None:  # type: ignore[no-untyped-def]
    with db.write() as session:
        channel_service.create_channel(session=session, workspace_id=ws.id, slug="reddit", kind="reddit")
        channel_service.create_channel(session=session, workspace_id=ws.id, slug="forum", kind="forum")


def _links(db, issue_id: int) -> dict[int, IssueMention]:  # type: ignore[no-untyped-def]
    with db.read() as session:
        rows = list(session.scalars(select(IssueMention).where(IssueMention.issue_id == issue_id)))
        session.expunge_all()
    return {row.mention_id: row for row in rows}


def _link_events(db, issue_id: int) -> list[IssueEvent]:  # type: ignore[no-untyped-def]
    with db.read() as session:
        rows = list(session.scalars(select(IssueEvent).where(
            IssueEvent.issue_id == issue_id, IssueEvent.kind == autolink.LINKED_EVENT).order_by(IssueEvent.id)))
        session.expunge_all()
    return rows


def _arrive(db, acme) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Posts on three channels: five match the rules, four do not; returns mention ids by external id."""
    at = ARRIVED
    ingest_at(db, acme, [
        post("x1", "My latch ate its battery in two days", at=at, url="https://x.com/ann/status/1",
             author={"handle": "ann"}),
        post("x2", "BATTERY-DRAIN again!!! third time this month", at=at + timedelta(minutes=5)),
        post("x3", "I latched the door and went out", at=at),  # "latched" is not the word "latch"
        post("x4", "Our new latch firmware is out", at=at, direction="outbound"),  # the brand's own post
        post("x5", "see you in court @acme", at=at + timedelta(minutes=7)),  # by category
    ], received_at=at)
    ingest_at(db, acme, [
        post("r1", "Anyone else seeing battery drain on the smart latch?", at=at + timedelta(minutes=20),
             url="https://www.reddit.com/r/smarthome/comments/abc"),
        post("r2", "Thanks, the app update looks great", at=at + timedelta(minutes=21)),
    ], received_at=at, channel_slug="reddit")
    ingest_at(db, acme, [
        post("f1", "Latch: battery drain after firmware 4.2", at=at + timedelta(minutes=30)),
        post("f2", "How do I reset my password?", at=at + timedelta(minutes=31)),
    ], received_at=at, channel_slug="forum")
    return {ext: mention_id(db, acme, ext) for ext in ("x1", "x2", "x3", "x4", "x5", "r1", "r2", "f1", "f2")}


def test_open_issue_rules_link_matching_mentions_from_every_channel_as_they_arrive(db, acme, globex, settings):
    add_issue_cast(db, acme, globex)
    _channels(db, acme)
    issue_id = open_test_issue(db, settings, acme, link_rules=RULES)
    ids = _arrive(db, acme)

    assert run_pipeline(db, settings, now=ARRIVED) == 9

    links = _links(db, issue_id)
    assert set(links) == {ids["x1"], ids["x2"], ids["x5"], ids["r1"], ids["f1"]}
    assert {m: links[ids[m]].linked_by for m in ("x1", "x2", "x5", "r1", "f1")} == {
        "x1": "rule:latch", "x2": "rule:battery drain", "x5": "rule:legal_threat",
        "r1": "rule:battery drain", "f1": "rule:latch",  # the first rule in the text wins
    }
    with db.read() as session:
        channels = channel_service.channels_by_slug(session=session, workspace_id=acme.id)
    assert links[ids["x1"]].site == "x.com" and links[ids["x1"]].channel_id == channels["x-main"].id
    assert links[ids["x2"]].site == "x"  # no URL: the channel kind
    assert links[ids["r1"]].site == "www.reddit.com" and links[ids["r1"]].channel_id == channels["reddit"].id
    assert links[ids["f1"]].site == "forum" and links[ids["f1"]].channel_id == channels["forum"].id
    assert links[ids["x2"]].posted_at == ARRIVED + timedelta(minutes=5)
    assert links[ids["r1"]].conversation_id == "r1"

    # One timeline event for the batch, not one per mention.
    (event,) = _link_events(db, issue_id)
    assert event.actor == autolink.RULES_ACTOR
    assert event.details == {
        "count": 5, "mention_ids": sorted(links),
        "rules": {"battery drain": 2, "latch": 2, "legal_threat": 1},
    }


def test_one_event_per_issue_per_batch_and_a_mention_can_join_two_issues(db, acme, globex, settings):
    add_issue_cast(db, acme, globex)
    first = open_test_issue(db, settings, acme, link_rules={"keywords": ["latch"]})
    second = open_test_issue(db, settings, acme, title="Checkout errors",
                             link_rules={"keywords": ["checkout"], "products": ["Latch Pro"]})
    ingest_at(db, acme, [
        post("1", "latch checkout failed", at=ARRIVED),
        post("2", "loving my #LatchPro", at=ARRIVED),
        post("3", "the latch pro is great", at=ARRIVED),
    ], received_at=ARRIVED)

    run_pipeline(db, settings, now=ARRIVED, batch_size=2)  # two batches

    ids = [mention_id(db, acme, ext) for ext in ("1", "2", "3")]
    assert {m: link.linked_by for m, link in _links(db, first).items()} == {ids[0]: "rule:latch",
                                                                           ids[2]: "rule:latch"}
    assert {m: link.linked_by for m, link in _links(db, second).items()} == {
        ids[0]: "rule:checkout", ids[1]: "rule:latch pro", ids[2]: "rule:latch pro"}
    assert [e.details["count"] for e in _link_events(db, first)] == [1, 1]
    assert [e.details["count"] for e in _link_events(db, second)] == [2, 1]


def test_closed_issues_and_other_workspaces_are_left_alone(db, acme, globex, settings):
    add_issue_cast(db, acme, globex)
    live = open_test_issue(db, settings, acme, link_rules=RULES)
    closed = open_test_issue(db, settings, acme, title="Old latch problem", link_rules=RULES)
    with issue_write(db, settings, acme) as (session, runtime):
        service.close_issue(session, runtime=runtime, workspace_id=acme.id, actor=as_actor(session, acme, LEE),
                            now=OPENED_AT, issue_id=closed, reason="a duplicate of the live issue")
    ingest_at(db, acme, [post("a1", "battery drain on my latch", at=ARRIVED)], received_at=ARRIVED)
    ingest_at(db, globex, [post("g1", "battery drain on my latch", at=ARRIVED)], received_at=ARRIVED)

    assert run_pipeline(db, settings, now=ARRIVED) == 2

    assert set(_links(db, live)) == {mention_id(db, acme, "a1")}
    assert _links(db, closed) == {}
    assert _link_events(db, closed) == []
    with db.read() as session:
        assert session.scalars(select(IssueMention.workspace_id)).all() == [acme.id]


def test_reprocessing_links_nothing_twice_and_respects_a_link_made_by_hand(db, acme, globex, settings):
    add_issue_cast(db, acme, globex)
    issue_id = open_test_issue(db, settings, acme, link_rules=RULES)
    ingest_at(db, acme, [post("1", "latch battery drain", at=ARRIVED), post("2", "my latch died", at=ARRIVED)],
              received_at=ARRIVED)
    by_hand = mention_id(db, acme, "2")
    with db.write() as session:
        issue = session.get(Issue, issue_id)
        assert link_mentions(session, issue, [by_hand], actor_name="sue", now=ARRIVED, linked_by="sue") == 1

    run_pipeline(db, settings, now=ARRIVED)
    first_links = _links(db, issue_id)
    assert first_links[by_hand].linked_by == "sue"
    events = _link_events(db, issue_id)
    assert [e.details["count"] for e in events] == [1, 1]  # by hand, then the rules' one new link

    # Every mention goes through every stage again (a retry, a replay): nothing new is linked or told.
    with db.write() as session:
        session.execute(update(Mention).where(Mention.workspace_id == acme.id)
                        .values(state="pending", next_attempt_at=ARRIVED, processed_at=None))
    assert run_pipeline(db, settings, now=ARRIVED + timedelta(minutes=1)) == 2
    assert {m: (link.linked_by, link.linked_at) for m, link in _links(db, issue_id).items()} == {
        m: (link.linked_by, link.linked_at) for m, link in first_links.items()}
    assert len(_link_events(db, issue_id)) == 2


def test_an_issue_without_rules_links_nothing(db, acme, globex, settings):
    add_issue_cast(db, acme, globex)
    issue_id = open_test_issue(db, settings, acme)
    ingest_at(db, acme, [post("1", "latch battery drain", at=ARRIVED)], received_at=ARRIVED)
    run_pipeline(db, settings, now=ARRIVED)
    assert _links(db, issue_id) == {}


# ---------------------------------------------------------------------------------------------- the matcher


def test_keywords_match_whole_words_of_the_normalised_text():
    matcher = autolink.IssueMatcher([(1, {"keywords": ["battery drain", "Latch"]})])
    assert matcher.match("BATTERY   DRAIN!!") == [autolink.RuleMatch(1, "battery drain")]
    assert matcher.match("the l4tch is dead") == [autolink.RuleMatch(1, "Latch")]  # leetspeak undone
    assert matcher.match("Látch") == [autolink.RuleMatch(1, "Latch")]
    assert matcher.match("unlatched, batterydrain") == []
    assert matcher.match("") == []


def test_one_match_per_issue_with_the_first_rule_in_the_text():
    matcher = autolink.IssueMatcher([
        (1, {"keywords": ["latch", "battery"]}),
        (2, {"categories": ["legal_threat"], "products": ["Latch Pro"]}),
        (3, {"keywords": ["refund"]}),
    ])
    assert matcher.match("battery of my latch pro", category="legal_threat") == [
        autolink.RuleMatch(1, "battery"), autolink.RuleMatch(2, "Latch Pro")]
    assert matcher.match("nothing here", category="legal_threat") == [autolink.RuleMatch(2, "legal_threat")]
    assert matcher.match("nothing here", tags=["LatchPro"]) == [autolink.RuleMatch(2, "Latch Pro")]
    assert matcher.match("nothing here", tags=["Latch"]) == []
    assert autolink.IssueMatcher([(1, {})]).empty
    assert autolink.IssueMatcher([]).match("latch") == []


def test_the_matcher_cache_recompiles_when_rules_change():
    cache = autolink.MatcherCache()
    first = cache.matcher(1, [(1, {"keywords": ["latch"]})])
    assert cache.matcher(1, [(1, {"keywords": ["latch"]})]) is first
    changed = cache.matcher(1, [(1, {"keywords": ["lock"]})])
    assert changed is not first and changed.match("my lock") == [autolink.RuleMatch(1, "lock")]


WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=8)


@given(before=st.lists(WORDS, max_size=5), after=st.lists(WORDS, max_size=5), keyword=st.lists(
    st.text(alphabet="klmnopqrst", min_size=2, max_size=8), min_size=1, max_size=3).map(" ".join))
def test_a_keyword_is_found_as_a_whole_word_and_never_inside_another(before, after, keyword):
    matcher = autolink.IssueMatcher([(7, {"keywords": [keyword]})])
    # The keyword's letters never occur in the surrounding words, so only the planted copy can match.
    assert matcher.match(" ".join([*before, keyword.upper(), *after])) == [autolink.RuleMatch(7, keyword)]
    glued = "".join(before[:1]) + keyword + "".join(after[:1])
    assert matcher.match(glued) == ([autolink.RuleMatch(7, keyword)] if glued == keyword else [])
