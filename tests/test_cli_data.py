"""`firebreak ingest` and `firebreak export` through the real CLI, on both databases."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from firebreak.channels.models import Channel
from firebreak.cli.main import app
from firebreak.mentions.models import Author, Mention
from firebreak.settings import get_settings

TWCS = Path("/work/shared/data/twcs/twcs_sample.csv")


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[type-arg]
    """Run `firebreak ARGS` against this test's database; returns the click Result."""
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory
    env = {"FIREBREAK_DATABASE_URL": database_url, "FIREBREAK_DATA_DIR": str(tmp_path)}

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args), env=env)

    yield run
    get_settings.cache_clear()


def count(db, model=Mention, **where) -> int:  # type: ignore[no-untyped-def]
    stmt = select(func.count()).select_from(model)
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    with db.read() as session:
        return session.scalar(stmt)


def write_jsonl(path: Path, objects: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    return path


def test_ingest_reports_counts_and_is_idempotent(cli, db, acme, tmp_path):
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [{"external_id": i, "text": f"post {i}", "author": {"handle": f"u{i % 4}"}} for i in range(1, 26)]
        + [{"external_id": 1, "text": "post 1 again"}],
    )
    first = cli("ingest", str(path), "-w", "acme", "--channel", "x-main", "--batch-size", "7")
    assert first.exit_code == 0, first.output
    assert "m.jsonl (jsonl): read 26, created 25, duplicates 1, skipped 0" in first.stdout
    assert "rows/s" in first.stdout
    second = cli("ingest", str(path), "-w", "acme", "--channel", "x-main")
    assert second.exit_code == 0, second.output
    assert "read 26, created 0, duplicates 26, skipped 0" in second.stdout
    assert count(db) == 25 and count(db, Author) == 4


def test_ingest_twcs_sample_creates_its_channel(cli, db, acme):
    result = cli("ingest", str(TWCS), "-w", "acme", "--channel", "support", "--create-channel", "--kind", "x")
    assert result.exit_code == 0, result.output
    assert "twcs_sample.csv (twcs): read 3,555, created 3,555, duplicates 0, skipped 0" in result.stdout
    assert "Created channel(s) support (x)." in result.stderr
    with db.read() as session:
        channel = session.scalar(select(Channel).where(Channel.slug == "support"))
        assert channel is not None and channel.kind == "x"
        threads = session.scalar(
            select(func.count(func.distinct(Mention.conversation_id))).where(Mention.channel_id == channel.id)
        )
    assert threads == 1_042
    assert count(db, direction="outbound") == 1_619


def test_missing_channel_and_workspace_are_one_line_errors(cli, db, acme, tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"external_id": 1, "text": "hello"}])
    no_channel = cli("ingest", str(path), "-w", "acme", "--channel", "nope")
    assert no_channel.exit_code == 2
    assert "channel 'nope' does not exist in this workspace; add --create-channel" in no_channel.stderr
    no_workspace = cli("ingest", str(path), "-w", "initech", "--channel", "x-main")
    assert no_workspace.exit_code == 2 and "workspace 'initech' does not exist" in no_workspace.stderr
    no_default = cli("ingest", str(path), "-w", "acme")
    assert no_default.exit_code == 2
    assert "m.jsonl:1 column 'channel': the row names no channel and --channel was not given" in no_default.stderr
    assert count(db) == 0


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("wrong-header.csv", "id,text\n1,a\n", ":1: cannot tell the format"),
        (
            "bad-number.csv",
            "external_id,text,author_handle,author_followers\n1,a,ann,1\n2,b,bob,lots\n",
            ":3 column 'author_followers': 'lots' is not a whole number",
        ),
        (
            "bad-date.csv",
            "external_id,text,created_at\n1,a,2026-11-20T09:00:00Z\n2,b,20/11/2026\n",
            ":3 column 'created_at': '20/11/2026' is not an ISO 8601 date and time",
        ),
        ("missing-text.csv", "external_id,text\n1,a\n2,\n", ":3 column 'text': text is empty"),
        ("quote.csv", 'external_id,text\n1,a\n2,"open\n3,c\n', ":3: unterminated quote"),
        ("columns.csv", "external_id,text\n1,a\n2,b,c\n", ":3: the row has 3 fields; the header has 2"),
        (
            "broken.jsonl",
            '{"external_id": 1, "text": "a"}\n{"external_id": 2, "text": "b"\n',
            ":2: malformed JSON: the line ends before the object does",
        ),
        (
            "long.jsonl",
            '{"external_id": 1, "text": "a"}\n{"external_id": 2, "text": "' + "z" * 300 + '"}\n',
            ":2 column 'text': text has 300 characters; the limit is 200",
        ),
    ],
)
def test_a_bad_file_exits_2_naming_the_place_and_stores_nothing(
    cli, db, acme, tmp_path, monkeypatch, name, content, where
):
    monkeypatch.setenv("FIREBREAK_MAX_TEXT_CHARS", "200")
    path = tmp_path / name
    path.write_text(content)
    result = cli("ingest", str(path), "-w", "acme", "--channel", "x-main", "--batch-size", "1")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}{where}"), result.stderr
    assert count(db) == 0


def test_skip_bad_rows_imports_the_rest_and_lists_what_was_skipped(cli, db, acme, tmp_path):
    good = [f"{i},fine post {i}" for i in range(1, 11)]
    bad = [f"{i},bad one,ann,x{i}" for i in range(100, 125)]
    path = tmp_path / "mixed.csv"
    path.write_text(
        "external_id,text,author_handle,author_followers\n"
        + "\n".join([row + ",," for row in good[:5]] + bad + [row + ",," for row in good[5:]])
        + "\n"
    )
    result = cli("ingest", str(path), "-w", "acme", "--channel", "x-main", "--skip-bad-rows")
    assert result.exit_code == 0, result.output
    assert "read 35, created 10, duplicates 0, skipped 25" in result.stdout
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 20
    assert skipped[0] == f"skipped {path}:7 column 'author_followers': 'x100' is not a whole number"
    assert "... and 5 more skipped row(s)" in result.stderr
    assert count(db) == 10


def test_export_jsonl_round_trips_mentions_authors_and_threads(cli, db, acme, globex, tmp_path):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {
                "external_id": "10",
                "text": "root post ✈",
                "created_at": "2026-11-20T09:00:00Z",
                "author": {
                    "handle": "ann",
                    "display_name": "Ann",
                    "followers": 120400,
                    "verified": True,
                    "tags": ["journalist"],
                },
                "url": "https://x.com/ann/status/10",
                "language": "en",
                "raw": {"labels": {"sentiment": "negative"}},
            },
            {
                "external_id": "11",
                "text": "brand reply",
                "created_at": "2026-11-20T09:05:00Z",
                "reply_to": "10",
                "direction": "outbound",
                "author": {"handle": "acme_help", "tags": ["brand"]},
            },
            {
                "external_id": "12",
                "text": "thanks",
                "created_at": "2026-11-20T09:07:00Z",
                "reply_to": "11",
                "author": {"handle": "ann"},
            },
            {"external_id": "hook-1", "text": "from a webhook sender", "channel": "hooks"},
            {"external_id": "30", "text": "orphan reply", "reply_to": "29"},
        ],
    )
    assert cli("ingest", str(source), "-w", "acme", "--channel", "x-main").exit_code == 0
    exported = tmp_path / "out.jsonl"
    result = cli("export", "-w", "acme", "--out", str(exported))
    assert result.exit_code == 0, result.output
    assert f"Exported 5 mention(s) to {exported}." in result.stderr
    assert not (tmp_path / "out.jsonl.part").exists()
    back = cli("ingest", str(exported), "-w", "globex")
    assert back.exit_code == 0, back.output
    assert "read 5, created 5, duplicates 0" in back.stdout

    def snapshot(workspace_id: int) -> list[tuple]:  # type: ignore[type-arg]
        with db.read() as session:
            rows = session.execute(
                select(Mention, Channel.slug, Author)
                .join(Channel, Channel.id == Mention.channel_id)
                .outerjoin(Author, Author.id == Mention.author_id)
                .where(Mention.workspace_id == workspace_id)
                .order_by(Mention.external_id)
            ).all()
        return [
            (
                m.external_id,
                slug,
                m.text,
                m.created_at,
                m.url,
                m.language,
                m.direction,
                m.reply_to_external_id,
                m.conversation_id,
                m.raw,
                (a.handle, a.display_name, a.follower_count, a.verified, a.tags) if a else None,
            )
            for m, slug, a in rows
        ]

    original, copy = snapshot(acme.id), snapshot(globex.id)
    assert copy == original
    threads = {row[0]: row[8] for row in copy}
    assert threads["11"] == threads["12"] == "10" and threads["30"] == "29"
    assert len(original) == 5


def test_export_csv_with_filters(cli, db, acme, tmp_path):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"external_id": "1", "text": "refund please, now", "author": {"handle": "ann", "tags": ["a", "b"]}},
            {"external_id": "2", "text": "we are on it", "direction": "outbound"},
            {"external_id": "3", "text": 'refund "still" missing\nsecond line', "channel": "hooks"},
        ],
    )
    assert cli("ingest", str(source), "-w", "acme", "--channel", "x-main").exit_code == 0
    everything = cli("export", "-w", "acme", "--format", "csv")
    assert everything.exit_code == 0, everything.output
    rows = list(csv.DictReader(io.StringIO(everything.stdout)))
    assert sorted(r["external_id"] for r in rows) == ["1", "2", "3"]
    first = next(r for r in rows if r["external_id"] == "1")
    assert (first["author_handle"], first["author_tags"], first["author_verified"]) == ("ann", "a;b", "false")
    assert next(r for r in rows if r["external_id"] == "3")["text"] == 'refund "still" missing\nsecond line'

    def ids(*args: str) -> list[str]:
        result = cli("export", "-w", "acme", *args)
        assert result.exit_code == 0, result.output
        return sorted(json.loads(line)["external_id"] for line in result.stdout.splitlines() if line)

    assert ids("--direction", "outbound") == ["2"]
    assert ids("--channel", "hooks") == ["3"]
    assert ids("--q", "refund") == ["1", "3"]
    assert ids("--state", "pending", "--since", "2000-01-01") == ["1", "2", "3"]
    assert ids("--until", "2000-01-01") == []
    # The CSV export reads back in as the same mentions.
    (tmp_path / "out.csv").write_text(everything.stdout)
    again = cli("ingest", str(tmp_path / "out.csv"), "-w", "acme")
    assert again.exit_code == 0, again.output
    assert "read 3, created 0, duplicates 3" in again.stdout
    bad = cli("export", "-w", "acme", "--since", "last week")
    assert bad.exit_code == 2 and "since: 'last week' is not an ISO 8601" in bad.stderr
    unknown = cli("export", "-w", "acme", "--channel", "nope")
    assert unknown.exit_code == 2 and "channel 'nope' does not exist" in unknown.stderr
