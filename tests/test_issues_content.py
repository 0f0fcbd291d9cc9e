"""An issue's content: drafts, immutable versions, diffs, comments, legal review with its clock, and the CLI.

Real issues (opened through the issue service) on SQLite and PostgreSQL, the shipped default playbook
(legal review: 2h on `support_hours`, Monday to Friday 08:00-20:00 and Saturday 10:00-16:00 in London),
the real SLA scheduler, and `firebreak draft ...` through the real command line.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from firebreak.cli.main import app as cli_app
from firebreak.core.clock import FixedClock
from firebreak.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from firebreak.db.engine import Database
from firebreak.issues import content, service
from firebreak.issues.models import Draft, DraftReview, DraftVersion, IssueEvent
from firebreak.settings import Settings, get_settings
from firebreak.workflow.models import SlaClock, SlaEvent
from tests.factories import WorkspaceFixture
from tests.issues_support import (
    ADA,
    ANA,
    CORA,
    LEX,
    OPENED_AT,
    OWEN,
    PIA,
    STAKEHOLDERS,
    SUE,
    add_issue_cast,
    as_actor,
    issue_write,
    open_test_issue,
    timeline_kinds,
)
from tests.workflow_support import london, services_for, use_playbook

RESPONSE_V1 = "Some latches drain their batteries.\nWe are looking into it.\nMore soon."
RESPONSE_V2 = "Some latches drain their batteries after firmware 4.2.\nWe are looking into it.\nMore soon.\nSorry."
LOCKED = "version 1 of the response is approved and locked; add a new version to change it"


@pytest.fixture
def issue_id(db: Database, settings: Settings, acme: WorkspaceFixture, globex: WorkspaceFixture) -> int:
    """acme's cast and one open issue owned by owen, with cora (communications) and lex (legal) on it."""
    add_issue_cast(db, acme, globex)
    return open_test_issue(db, settings, acme)


class Desk:
    """Call the content service as one person at a fixed time, one committed transaction per call."""

    def __init__(self, db: Database, settings: Settings, ws: WorkspaceFixture) -> None:
        self.db, self.settings, self.ws = db, settings, ws

    def __call__(self, operation: Any, email: str, *, at: datetime = OPENED_AT, **arguments: Any) -> Any:
        with issue_write(self.db, self.settings, self.ws) as (session, runtime):
            actor = as_actor(session, self.ws, email)
            result = operation(session, runtime=runtime, workspace_id=self.ws.id, actor=actor, now=at, **arguments)
            session.flush()
            if isinstance(result, DraftVersion | Draft | DraftReview):
                session.expunge(result)
            return result

    def detail(self, draft_id: int, *, at: datetime = OPENED_AT) -> dict[str, Any]:
        with issue_write(self.db, self.settings, self.ws) as (session, runtime):
            return content.draft_detail(session, runtime=runtime, workspace_id=self.ws.id, draft_id=draft_id, now=at)

    def versions(self, draft_id: int) -> dict[int, str]:
        """Version number -> state."""
        with self.db.read() as session:
            return dict(session.execute(select(DraftVersion.number, DraftVersion.state)
                                        .where(DraftVersion.draft_id == draft_id)).all())

    def version_id(self, draft_id: int, number: int) -> int:
        with self.db.read() as session:
            found = session.scalar(select(DraftVersion.id).where(DraftVersion.draft_id == draft_id,
                                                                 DraftVersion.number == number))
        assert found is not None
        return found

    def approved(self, issue_id: int, kind: str = "response") -> int | None:
        """The number of the approved version publishing would use."""
        with self.db.read() as session:
            version = content.approved_version(session, workspace_id=self.ws.id, issue_id=issue_id, kind=kind)
            return version.number if version is not None else None


@pytest.fixture
def desk(db: Database, settings: Settings, acme: WorkspaceFixture) -> Desk:
    return Desk(db, settings, acme)


def new_response(desk: Desk, issue_id: int, body: str | None = RESPONSE_V1, *, email: str = CORA,
                 at: datetime = OPENED_AT) -> int:
    draft = desk(content.create_draft, email, at=at, issue_id=issue_id, kind="response", title="What happened",
                 body=body)
    return draft.id


def in_review(desk: Desk, issue_id: int, *, at: datetime = OPENED_AT) -> tuple[int, int]:
    """A response draft with version 1 sent to legal review at `at`; returns (draft id, version id)."""
    draft_id = new_response(desk, issue_id, at=at)
    version_id = desk.version_id(draft_id, 1)
    desk(content.submit_for_review, CORA, at=at, version_id=version_id)
    return draft_id, version_id


def legal_clock(db: Database, version_id: int) -> SlaClock:
    with db.read() as session:
        clock = session.scalar(select(SlaClock).where(SlaClock.metric == "legal_review",
                                                      SlaClock.reference_id == version_id))
        assert clock is not None, f"version {version_id} has no legal review clock"
        session.expunge(clock)
    return clock


# ---------------------------------------------------------------------------------------------- versions and diffs


def test_each_change_is_a_new_version_and_the_diff_shows_it(db, desk, issue_id):
    draft_id = new_response(desk, issue_id)
    second = desk(content.add_version, CORA, at=OPENED_AT + timedelta(minutes=5), draft_id=draft_id,
                  body=RESPONSE_V2 + "\n\n", expected_number=1)

    assert second.number == 2 and second.state == "draft" and second.author == CORA
    assert second.body == RESPONSE_V2  # trailing blank lines of a file are not part of the text
    assert desk.versions(draft_id) == {1: "superseded", 2: "draft"}
    with db.read() as session:
        found = content.diff(session, workspace_id=desk.ws.id, draft_id=draft_id, from_number=1, to_number=2)
    assert found.unified.splitlines()[:2] == ["--- version 1", "+++ version 2"]
    assert "-Some latches drain their batteries." in found.unified
    assert "+Some latches drain their batteries after firmware 4.2." in found.unified
    assert "+Sorry." in found.unified and " We are looking into it." in found.unified
    assert found.changes == (
        content.LineChange(1, 1, "Some latches drain their batteries.",
                           "Some latches drain their batteries after firmware 4.2."),
        content.LineChange(None, 4, None, "Sorry."),
    )
    assert timeline_kinds(db, issue_id)[-2:] == ["draft.created", "draft.version_added"]


def test_empty_identical_and_stale_versions_are_refused(db, desk, issue_id):
    draft_id = new_response(desk, issue_id)
    with pytest.raises(InvalidInput, match="needs some text"):
        desk(content.add_version, CORA, draft_id=draft_id, body="  \n\t\n")
    with pytest.raises(InvalidInput, match="same as version 1"):
        desk(content.add_version, CORA, draft_id=draft_id, body=RESPONSE_V1 + "\n")
    desk(content.add_version, OWEN, draft_id=draft_id, body=RESPONSE_V2, expected_number=1)
    # Cora started from version 1 too; writing hers now would silently bury owen's version 2.
    with pytest.raises(Conflict, match="at version 2 now, not 1") as refused:
        desk(content.add_version, CORA, draft_id=draft_id, body=RESPONSE_V1 + "\nCora's take.", expected_number=1)
    assert refused.value.field == "expected_number"
    assert desk.versions(draft_id) == {1: "superseded", 2: "draft"}


def test_a_draft_may_start_empty_and_get_its_first_version_later(desk, issue_id):
    draft_id = new_response(desk, issue_id, body=None)
    assert desk.versions(draft_id) == {}
    with pytest.raises(Conflict):
        desk(content.add_version, CORA, draft_id=draft_id, body="First words.", expected_number=1)
    first = desk(content.add_version, CORA, draft_id=draft_id, body="First words.", expected_number=0)
    assert first.number == 1


def test_bad_drafts_are_refused_by_field(desk, issue_id):
    cases = [
        ({"kind": "tweet", "title": "x"}, "kind", "unknown draft kind 'tweet'"),
        ({"kind": "faq", "title": "  "}, "title", "title of 1 to 200"),
        ({"kind": "talking_points", "title": "For sales"}, "audience", "talking points are written for an audience"),
        ({"kind": "talking_points", "title": "x", "audience": "press"}, "audience", "not 'press'"),
        ({"kind": "faq", "title": "FAQ", "audience": "sales"}, "audience", "only talking points have an audience"),
        ({"kind": "response", "title": "x", "body": "a", "from_statement": "fixed"}, "from_statement", "not both"),
        ({"kind": "response", "title": "x", "body": " "}, "body", "needs some text"),
    ]
    for arguments, field, message in cases:
        with pytest.raises(InvalidInput, match=message) as refused:
            desk(content.create_draft, CORA, issue_id=issue_id, **arguments)
        assert refused.value.field == field
    points = desk(content.create_draft, CORA, issue_id=issue_id, kind="talking_points", title="For sales",
                  audience="sales", body="- It is the 4.2 firmware\n- A fix ships Monday")
    assert points.audience == "sales"


def test_unknown_drafts_and_other_workspaces_are_not_found(db, desk, issue_id, globex):
    draft_id = new_response(desk, issue_id)
    version_id = desk.version_id(draft_id, 1)
    with db.read() as session:
        with pytest.raises(NotFound, match=f"issue {issue_id} does not exist"):
            content.list_drafts(session, workspace_id=globex.id, issue_id=issue_id)  # the issue is acme's
        with pytest.raises(NotFound, match=f"draft {draft_id} does not exist"):
            content.get_draft(session, globex.id, draft_id)
        with pytest.raises(NotFound, match="has no version 3"):
            content.diff(session, workspace_id=desk.ws.id, draft_id=draft_id, from_number=1, to_number=3)
        with pytest.raises(NotFound, match=f"of issue {issue_id + 1}"):
            content.get_version(session, desk.ws.id, version_id, issue_id=issue_id + 1)


# ---------------------------------------------------------------------------------------------- holding statements


def test_a_holding_statement_starts_version_one_with_what_the_issue_knows(desk, issue_id):
    draft = desk(content.create_draft, CORA, issue_id=issue_id, kind="acknowledgement", title="We're aware",
                 from_statement="aware")
    detail = desk.detail(draft.id)
    first = detail["versions"][0]
    # The default statement asks for what only the writer knows: it stays visible to fill in.
    assert first["body"] == ("We know some {product} customers are {problem}. We're looking into it now and will "
                             "post an update here by {next_update}.")
    assert first["source_statement"] == "aware" and first["state"] == "draft"

    fixed = desk(content.create_draft, CORA, issue_id=issue_id, kind="response", title="Fixed",
                 from_statement="fixed")
    assert desk.detail(fixed.id)["versions"][0]["body"].startswith("Latch battery drain is fixed. If you were")

    with pytest.raises(InvalidInput, match="'aware' .* is approved for acknowledgement drafts, not a response"):
        desk(content.create_draft, CORA, issue_id=issue_id, kind="response", title="x", from_statement="aware")
    with pytest.raises(InvalidInput, match="unknown holding statement 'sorry'; known: aware, investigating, fixed"):
        desk(content.create_draft, CORA, issue_id=issue_id, kind="response", title="x", from_statement="sorry")


def test_a_holding_statement_fills_brand_issue_and_title(db, desk, issue_id, acme):
    text = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")
    document = copy.deepcopy(yaml.safe_load(text))
    document["playbook"] = {"name": "Acme content tests", "version": "acme-content-1"}
    document["issues"]["holding_statements"] = [{
        "id": "owned", "label": "Owned", "kind": "confirmation",
        "text": "{brand} here about {issue}, {title}: {product} owners, we are on it. {{not a placeholder}}"}]
    use_playbook(db, acme, yaml.safe_dump(document, sort_keys=False))
    services_for(desk.settings).playbooks.forget(acme.id)
    draft = desk(content.create_draft, CORA, issue_id=issue_id, kind="confirmation", title="Confirmed",
                 from_statement="owned")
    assert desk.detail(draft.id)["versions"][0]["body"] == (
        "Acme here about issue 1, Latch battery drain: {product} owners, we are on it. {not a placeholder}")


# ---------------------------------------------------------------------------------------------- who may write


def test_writers_are_content_roles_the_owner_and_communications_stakeholders(db, settings, desk, acme, issue_id):
    for email in (ANA, PIA, SUE, LEX):  # agents (product and support stakeholders among them) and legal
        with pytest.raises(Forbidden, match="needs the 'write_content' permission"):
            new_response(desk, issue_id, email=email)
    assert new_response(desk, issue_id, email=OWEN)  # the owner (a lead)
    assert new_response(desk, issue_id, email=CORA)  # the communications role
    # An agent made the issue's communications stakeholder writes for this issue, and only this one.
    other = open_test_issue(db, settings, acme, title="Refund delays",
                            stakeholders=(*STAKEHOLDERS, (ANA, "communications")))
    assert new_response(desk, other, email=ANA)
    with pytest.raises(Forbidden):
        new_response(desk, issue_id, email=ANA)


def test_any_member_may_comment_even_on_an_approved_version(db, desk, issue_id):
    draft_id, version_id = in_review(desk, issue_id)
    desk(content.comment, ANA, version_id=version_id, text="Customers call it the 'latch', not the 'lock'.")
    desk(content.review, LEX, at=OPENED_AT + timedelta(minutes=30), version_id=version_id, verdict="approved")
    desk(content.comment, SUE, at=OPENED_AT + timedelta(minutes=40), version_id=version_id, text="Support is ready.")
    with pytest.raises(InvalidInput, match="1 to 10000 characters"):
        desk(content.comment, SUE, version_id=version_id, text="   ")
    reviews = desk.detail(draft_id)["versions"][0]["reviews"]
    assert [(r["reviewer"], r["role"], r["verdict"]) for r in reviews] == [
        (ANA, "agent", None), (LEX, "legal", "approved"), (SUE, "support", None)]
    assert desk.versions(draft_id) == {1: "approved"}
    assert timeline_kinds(db, issue_id)[-3:] == ["draft.commented", "draft.approved", "draft.commented"]


# ---------------------------------------------------------------------------------------------- legal review


def test_only_legal_can_approve_legal_review(db, desk, issue_id):
    draft_id, version_id = in_review(desk, issue_id)
    for email in (ANA, CORA, OWEN):  # an agent, communications, and the issue's owner (a lead)
        with pytest.raises(Forbidden, match="only legal can approve legal review"):
            desk(content.review, email, version_id=version_id, verdict="approved")
        with pytest.raises(Forbidden, match="only legal can request changes in legal review"):
            desk(content.review, email, version_id=version_id, verdict="changes_requested", comment="No.")
    assert desk.approved(issue_id) is None

    verdict = desk(content.review, LEX, at=OPENED_AT + timedelta(minutes=20), version_id=version_id,
                   verdict="approved", comment="Fine to publish.")
    assert (verdict.reviewer, verdict.reviewer_role, verdict.verdict) == (LEX, "legal", "approved")
    detail = desk.detail(draft_id)
    first = detail["versions"][0]
    assert detail["approved"] == 1
    assert (first["state"], first["locked"], first["approved_by"]) == ("approved", True, LEX)
    assert first["approved_at"] == OPENED_AT + timedelta(minutes=20)
    assert desk.approved(issue_id) == 1
    assert desk.approved(issue_id, "faq") is None
    with db.read() as session:
        event = session.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue_id)
                                .order_by(IssueEvent.id.desc())).first()
    assert event.kind == "draft.approved" and event.actor == LEX
    assert event.details["version"] == 1 and event.details["review_in_time"] is True


def test_an_admin_may_approve_as_admin(desk, issue_id):
    _, version_id = in_review(desk, issue_id)
    verdict = desk(content.review, ADA, version_id=version_id, verdict="approved")
    assert verdict.reviewer_role == "admin"


def test_requesting_changes_needs_a_comment_and_sends_the_writer_back_to_a_new_version(desk, issue_id):
    draft_id, version_id = in_review(desk, issue_id)
    with pytest.raises(InvalidInput, match="needs a comment") as refused:
        desk(content.review, LEX, version_id=version_id, verdict="changes_requested", comment="  ")
    assert refused.value.field == "comment"
    with pytest.raises(InvalidInput, match="unknown verdict 'maybe'"):
        desk(content.review, LEX, version_id=version_id, verdict="maybe")
    desk(content.review, LEX, version_id=version_id, verdict="changes_requested",
         comment="Do not say 'drain': say 'use more power than expected'.")
    assert desk.versions(draft_id) == {1: "changes_requested"}
    with pytest.raises(InvalidInput, match="came back with changes requested; add a new version"):
        desk(content.submit_for_review, CORA, version_id=version_id)

    desk(content.add_version, CORA, draft_id=draft_id, body=RESPONSE_V2)
    assert desk.versions(draft_id) == {1: "superseded", 2: "draft"}
    with pytest.raises(InvalidInput, match="version 1 of the response is not in legal review"):
        desk(content.review, LEX, version_id=version_id, verdict="approved")


def test_an_approved_version_is_locked_and_newer_versions_do_not_unlock_it(desk, issue_id):
    draft_id, first = in_review(desk, issue_id)
    desk(content.review, LEX, version_id=first, verdict="approved")
    with pytest.raises(InvalidInput) as resubmitted:
        desk(content.submit_for_review, CORA, version_id=first)
    assert str(resubmitted.value) == f"state: {LOCKED}"
    for verdict, comment in (("approved", ""), ("changes_requested", "Reword it.")):
        with pytest.raises(InvalidInput, match=LOCKED):
            desk(content.review, LEX, version_id=first, verdict=verdict, comment=comment)

    second = desk(content.add_version, CORA, draft_id=draft_id, body=RESPONSE_V2, expected_number=1)
    assert desk.versions(draft_id) == {1: "approved", 2: "draft"}
    assert desk.approved(issue_id) == 1  # publishing keeps the approved words while v2 is worked on
    desk(content.submit_for_review, CORA, version_id=second.id)
    desk(content.review, LEX, version_id=second.id, verdict="approved")
    assert desk.versions(draft_id) == {1: "approved", 2: "approved"}
    assert desk.approved(issue_id) == 2


def test_a_version_not_sent_for_review_gets_no_verdict(desk, issue_id):
    draft_id = new_response(desk, issue_id)
    version_id = desk.version_id(draft_id, 1)
    with pytest.raises(InvalidInput, match="not in legal review \\(it is draft\\)"):
        desk(content.review, LEX, version_id=version_id, verdict="approved")
    desk(content.submit_for_review, CORA, version_id=version_id)
    with pytest.raises(InvalidInput, match="already in legal review"):
        desk(content.submit_for_review, CORA, version_id=version_id)
    with pytest.raises(Forbidden, match="write_content"):
        desk(content.submit_for_review, ANA, version_id=version_id)


# ---------------------------------------------------------------------------------------------- the legal review clock


def test_the_legal_review_clock_starts_on_submit_and_is_met_by_the_verdict(db, desk, issue_id):
    draft_id, version_id = in_review(desk, issue_id)  # Friday 15:00, inside support hours
    clock = legal_clock(db, version_id)
    assert (clock.state, clock.issue_id, clock.mention_id, clock.calendar) == ("running", issue_id, None,
                                                                               "support_hours")
    assert clock.target_seconds == 7200
    assert clock.due_at == OPENED_AT + timedelta(hours=2)
    assert clock.warn_at == OPENED_AT + timedelta(minutes=90)  # 75% of the goal
    running = desk.detail(draft_id, at=OPENED_AT + timedelta(minutes=30))["versions"][0]["legal_review"]
    assert running["remaining_seconds"] == 5400 and not running["breached"]

    desk(content.review, LEX, at=OPENED_AT + timedelta(hours=1), version_id=version_id, verdict="changes_requested",
         comment="Remove the firmware number until product confirms it.")
    clock = legal_clock(db, version_id)
    assert (clock.state, clock.consumed_seconds, clock.next_fire_at) == ("met", 3600, None)
    view = desk.detail(draft_id, at=OPENED_AT + timedelta(days=3))["versions"][0]["legal_review"]
    assert view["state"] == "met" and view["used_seconds"] == 3600 and not view["breached"]


def test_the_legal_review_clock_runs_in_support_hours_only(db, desk, issue_id):
    friday_evening = london(2026, 11, 13, 19, 0)
    _, version_id = in_review(desk, issue_id, at=friday_evening)
    # One hour on Friday until 20:00, the second from Saturday's 10:00 opening.
    assert legal_clock(db, version_id).due_at == london(2026, 11, 14, 11, 0)


def test_a_superseded_version_in_review_cancels_its_clock(db, desk, issue_id):
    draft_id, version_id = in_review(desk, issue_id)
    desk(content.add_version, CORA, at=OPENED_AT + timedelta(minutes=10), draft_id=draft_id, body=RESPONSE_V2)
    assert legal_clock(db, version_id).state == "cancelled"
    assert desk.versions(draft_id) == {1: "superseded", 2: "draft"}


def test_an_unanswered_legal_review_warns_and_breaches_through_the_scheduler(db, settings, desk, issue_id):
    draft_id, version_id = in_review(desk, issue_id)
    clock_id = legal_clock(db, version_id).id
    scheduler = services_for(settings).scheduler()

    def tick(at: datetime) -> list[str]:
        scheduler.clock = FixedClock(at)
        return [event for fired, event in scheduler.tick(db).fired if fired == clock_id]

    assert tick(OPENED_AT + timedelta(minutes=89)) == []
    assert tick(OPENED_AT + timedelta(minutes=90)) == ["warning"]
    assert tick(OPENED_AT + timedelta(minutes=119)) == []
    # The default playbook's first escalation level is 0m after the breach: it fires with it.
    assert tick(OPENED_AT + timedelta(hours=2, minutes=1)) == ["breach", "escalation:1"]
    assert tick(OPENED_AT + timedelta(hours=2, minutes=2)) == []  # fired once, however often it ticks
    with db.read() as session:
        events = dict(session.execute(select(SlaEvent.event, SlaEvent.recipients)
                                      .where(SlaEvent.clock_id == clock_id)).all())
    assert set(events) == {"warning", "breach", "escalation:1"}
    # The reviewer hears that the review is nearly late, and again once it is.
    assert f"email:{LEX}" in events["warning"] and f"email:{LEX}" in events["escalation:1"]

    late = OPENED_AT + timedelta(hours=3)
    assert desk.detail(draft_id, at=late)["versions"][0]["legal_review"]["breached"] is True
    desk(content.review, LEX, at=late, version_id=version_id, verdict="approved")
    assert legal_clock(db, version_id).state == "met"
    with db.read() as session:
        details = session.scalars(select(IssueEvent.details).where(IssueEvent.kind == "draft.approved")).one()
    assert details["review_in_time"] is False and details["review_seconds"] == 3 * 3600


def test_a_closed_issue_takes_no_more_content(desk, issue_id):
    draft_id = new_response(desk, issue_id)
    desk(service.close_issue, OWEN, issue_id=issue_id, reason="Duplicate of issue 2")
    with pytest.raises(InvalidInput, match="issue 1 is closed"):
        desk(content.add_version, CORA, draft_id=draft_id, body=RESPONSE_V2)
    with pytest.raises(InvalidInput, match="issue 1 is closed"):
        new_response(desk, issue_id)


# ---------------------------------------------------------------------------------------------- the diff, as a property


lines = st.lists(st.sampled_from(["a", "b", "c", "We are sorry.", ""]), min_size=1, max_size=12)


@given(old=lines, new=lines)
def test_the_changed_lines_account_for_every_difference(old, new):
    found = content.diff_texts("\n".join(old), "\n".join(new), from_number=1, to_number=2)
    removed = {change.from_line: change.old for change in found.changes if change.from_line is not None}
    added = {change.to_line: change.new for change in found.changes if change.to_line is not None}
    assert all(old[number - 1] == text for number, text in removed.items())
    assert all(new[number - 1] == text for number, text in added.items())
    # What is left unchanged on both sides is the same text, in the same order.
    kept_old = [line for number, line in enumerate(old, start=1) if number not in removed]
    kept_new = [line for number, line in enumerate(new, start=1) if number not in added]
    assert kept_old == kept_new
    assert (found.changes == ()) == (old == new) == (found.unified == "")


# ---------------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `firebreak ARGS` against this test's database, with optional standard input."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    env = {"FIREBREAK_DATABASE_URL": database_url, "FIREBREAK_DATA_DIR": str(tmp_path)}

    def run(*args: str, stdin: str | None = None) -> Any:
        get_settings.cache_clear()
        return CliRunner().invoke(cli_app, list(args), env=env, input=stdin)

    yield run
    get_settings.cache_clear()


def ok(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_writes_reviews_and_shows_a_draft(cli, db, desk, issue_id, tmp_path):
    issue = str(issue_id)
    made = ok(cli("draft", "new", issue, "-w", "acme", "--kind", "acknowledgement", "--title", "We're aware",
                  "--from-statement", "aware", "--as", CORA))
    assert "with version 1" in made and "{product} customers are {problem}" in made
    with db.read() as session:
        draft_id = session.scalar(select(Draft.id).where(Draft.issue_id == issue_id))
    draft = str(draft_id)
    text = tmp_path / "ack.md"
    text.write_text("We know some Acme latch owners see batteries drain fast.\nAn update follows by 18:00.\n")
    assert "version 2 added" in ok(cli("draft", "version", "add", draft, "-w", "acme", "--file", str(text),
                                       "--based-on", "1", "--as", CORA))
    assert "version 3 added" in ok(cli("draft", "version", "add", draft, "-w", "acme", "--as", OWEN,
                                       stdin="We know some Acme latch owners see batteries drain fast.\n"
                                             "An update follows by 17:00.\n"))
    stale = cli("draft", "version", "add", draft, "-w", "acme", "--based-on", "2", "--as", CORA, stdin="Mine.\n")
    assert stale.exit_code == 2 and "at version 3 now, not 2" in stale.output

    diff = ok(cli("draft", "diff", draft, "2", "3", "-w", "acme"))
    assert "--- version 2" in diff and "-An update follows by 18:00." in diff and "+An update follows by 17:00." in diff

    third = str(desk.version_id(draft_id, 3))
    assert "is in legal review; legal review due" in ok(cli("draft", "submit", third, "-w", "acme", "--as", CORA))
    refused = cli("draft", "review", "approve", third, "-w", "acme", "--as", CORA)
    assert refused.exit_code == 2 and "only legal can approve legal review" in refused.output
    assert ok(cli("draft", "comment", third, "Checked with product: 17:00 holds.", "-w", "acme", "--as", PIA))
    assert "approved and locked" in ok(cli("draft", "review", "approve", third, "-w", "acme", "--as", LEX,
                                           "--comment", "Fine."))
    locked = cli("draft", "submit", third, "-w", "acme", "--as", CORA)
    assert locked.exit_code == 2 and "version 3 of the acknowledgement is approved and locked" in locked.output

    shown = ok(cli("draft", "show", draft, "-w", "acme"))
    assert "approved: version 3" in shown and "approved (locked)" in shown and "superseded" in shown
    assert "answered after" in shown and f"{LEX} (legal) approved: Fine." in shown
    assert "Checked with product" in shown
    listed = ok(cli("draft", "list", issue, "-w", "acme"))
    assert "acknowledgement" in listed and "v3" in listed


def test_the_cli_asks_for_changes_with_a_comment(cli, desk, issue_id):
    draft_id, version_id = in_review(desk, issue_id)
    missing = cli("draft", "review", "changes", str(version_id), "-w", "acme", "--as", LEX)
    assert missing.exit_code == 2 and "--comment" in missing.output
    assert "sent back with changes requested" in ok(cli(
        "draft", "review", "changes", str(version_id), "-w", "acme", "--as", LEX, "--comment", "Soften it."))
    assert desk.versions(draft_id) == {1: "changes_requested"}
    empty = cli("draft", "version", "add", str(draft_id), "-w", "acme", "--as", CORA, stdin="")
    assert empty.exit_code == 2 and "give the new text" in empty.output
