"""Triage inside the pipeline, stored with its versions, and re-triage of history, on both databases."""

from __future__ import annotations

from sqlalchemy import select, update
from typer.testing import CliRunner

from firebreak.cli.main import app
from firebreak.services import build_pipeline
from firebreak.triage.ml.predict import load_models
from firebreak.triage.models import MentionTriage
from firebreak.worker import BackgroundWorker
from tests.factories import T0, ingest, mention


def drain(db, settings) -> int:
    return BackgroundWorker(db, build_pipeline(settings), batch_size=50).drain()


def verdicts(db) -> dict[str, MentionTriage]:
    from firebreak.mentions.models import Mention

    with db.read() as session:
        rows = session.execute(select(Mention.external_id, MentionTriage).join(MentionTriage,
                               MentionTriage.mention_id == Mention.id)).all()
    return {ext: row for ext, row in rows}


def test_every_mention_is_triaged_and_stored_with_versions(db, acme, settings):
    ingest(db, acme, [
        mention("1", "see you in court, my lawyer has everything"),
        mention("2", "thank you for the amazing service today!"),
        mention("3", "how do I change my email address?"),
        mention("4", "Your product is trash", author={"handle": "loud", "followers": 250_000}),
    ])
    assert drain(db, settings) == 4
    stored = verdicts(db)
    assert set(stored) == {"1", "2", "3", "4"}
    assert stored["1"].flag == "red" and stored["1"].category == "legal_threat"
    assert any("matched" in r["label"] for r in stored["1"].reasons)
    assert stored["2"].flag == "green"
    assert any(r["label"].startswith("influencer: 250,000 followers") for r in stored["4"].reasons)
    assert stored["4"].flag in ("yellow", "red")
    assert stored["1"].model_version == load_models().version
    assert stored["1"].playbook_version.startswith("1+")


def test_third_complaint_by_one_author_in_one_batch_is_raised(db, acme, settings):
    complaints = ["the app keeps logging me out, so annoying", "still logging me out, this is terrible",
                  "third day the app is broken and logging me out, awful"]
    ingest(db, acme, [mention(f"{i}00", text, author={"handle": "annoyed"}) for i, text in enumerate(complaints, 1)])
    drain(db, settings)
    stored = verdicts(db)
    last = stored["300"]
    negatives = sum(1 for v in stored.values() if v.sentiment == "negative")
    if negatives == 3:
        assert last.flag in ("yellow", "red")
        assert any("3rd negative post from this author" in r["label"] for r in last.reasons)


def test_retriage_recomputes_history_with_current_versions(db, acme, settings, database_url, tmp_path, monkeypatch):
    ingest(db, acme, [mention("1", "see you in court"), mention("2", "love it")])
    drain(db, settings)
    with db.write() as session:
        session.execute(update(MentionTriage).values(model_version="old", flag="green"))
    monkeypatch.setenv("FIREBREAK_DATABASE_URL", database_url)
    monkeypatch.setenv("FIREBREAK_DATA_DIR", str(tmp_path))
    from firebreak.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["retriage", "--since", T0.date().isoformat(), "-w", "acme"])
        bad = CliRunner().invoke(app, ["retriage", "--since", "last tuesday"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Re-triaged 2 mention(s)" in result.output
    stored = verdicts(db)
    assert stored["1"].flag == "red" and stored["1"].model_version == load_models().version
    assert bad.exit_code == 2 and "--since 'last tuesday' is not an ISO date" in bad.output


def test_api_shows_and_filters_by_triage(db, acme, settings):
    import httpx

    from firebreak.app import create_app
    from tests.live_server import serve_app

    ingest(db, acme, [mention("1", "my account was hacked and drained"), mention("2", "thanks, lovely service"),
                      mention("3", "see you in court")])
    drain(db, settings)
    auth = {"Authorization": f"Bearer {acme.read_token}"}
    with serve_app(create_app(settings, db=db, run_worker=False)) as base:
        red = httpx.get(f"{base}/api/v1/workspaces/acme/mentions", params={"flag": "red"}, headers=auth).json()
        legal = httpx.get(f"{base}/api/v1/workspaces/acme/mentions", params={"category": "legal_threat"},
                          headers=auth).json()
        bad = httpx.get(f"{base}/api/v1/workspaces/acme/mentions", params={"flag": "purple"}, headers=auth)
        one = httpx.get(f"{base}/api/v1/workspaces/acme/mentions/{red['items'][0]['id']}", headers=auth).json()
    assert sorted(item["external_id"] for item in red["items"]) == ["1", "3"]
    assert all(item["triage"]["flag"] == "red" for item in red["items"])
    assert [item["external_id"] for item in legal["items"]] == ["3"]
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("flag")
    assert one["triage"]["reasons"] and one["triage"]["model_version"] == load_models().version
