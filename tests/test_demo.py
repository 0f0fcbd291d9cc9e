"""`firebreak demo`: the scripted scenario, loading it on both databases, and serving it for real."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from firebreak.channels.models import Channel
from firebreak.cli.main import app
from firebreak.core.errors import ImportRowError, InvalidInput, Unauthorized
from firebreak.db.engine import Database
from firebreak.demo import scenario
from firebreak.mentions.models import Author, Mention
from firebreak.settings import get_settings
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import Workspace

TOKEN_RE = re.compile(r"\bfbk_[A-Za-z0-9_-]+")
FILE_ROWS = [json.loads(line) for line in scenario.SCENARIO_PATH.read_text().splitlines() if line.strip()]


def _roots() -> dict[tuple[str, str], str]:
    """Return the root post's external id for every (channel, external id) in the file."""
    parent = {(r["channel"], r["external_id"]): r.get("reply_to") for r in FILE_ROWS}
    roots = {}
    for channel, ext in parent:
        node = ext
        while parent[(channel, node)] is not None:
            node = parent[(channel, node)]
        roots[(channel, ext)] = node
    return roots


# ------------------------------------------------------------------------------------- the script


def test_scenario_file_is_small_valid_and_varied():
    script = scenario.read_scenario()
    assert scenario.SCENARIO_PATH.stat().st_size < 1_000_000
    assert 400 <= len(script) <= 600
    texts = [item.mention.text for item in script]
    assert len(set(texts)) == len(texts), "every post is written out, none repeated"

    kinds = {c.slug: c.kind for c in scenario.CHANNELS}
    used = Counter(item.mention.channel for item in script)
    assert set(used) <= set(kinds)
    assert {kinds[slug] for slug in used} >= {
        "x",
        "reddit",
        "facebook",
        "mastodon",
        "bluesky",
        "support_forum",
        "blog",
        "news",
    }

    # Replies point at an earlier post of the same channel.
    seen: set[tuple[str | None, str]] = set()
    for item in sorted(script, key=lambda i: i.offset):
        m = item.mention
        if m.reply_to is not None:
            assert (m.channel, str(m.reply_to)) in seen, f"line {item.line} replies to a later or missing post"
        seen.add((m.channel, str(m.external_id)))

    authors = {(i.mention.channel, i.mention.author.handle): i.mention.author for i in script if i.mention.author}
    tagged = Counter(tag for a in authors.values() for tag in a.tags)
    assert tagged["journalist"] >= 2 and tagged["troll"] >= 1 and tagged["brand"] >= 5
    assert any("influencer" in a.tags and (a.followers or 0) >= 150_000 for a in authors.values())
    assert sum(1 for i in script if i.mention.direction == "outbound") >= 30

    # A spike: the busiest hour holds several times what the first day's busiest hour did.
    hours = Counter(int(i.offset.total_seconds() // 3600) for i in script)
    assert max(hours.values()) >= 3 * max(n for h, n in hours.items() if h < 24)
    assert max(i.offset for i in script) <= timedelta(hours=49)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+1h23m", timedelta(hours=1, minutes=23)),
        ("+2d", timedelta(days=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("+45s", timedelta(seconds=45)),
        (90, timedelta(minutes=90)),
    ],
)
def test_offsets_parse(text, expected):
    assert scenario.parse_offset(text) == expected


@pytest.mark.parametrize("bad", ["soon", "+", "", "-5m", "1h-2m", -3, True, None])
def test_bad_offsets_are_refused_naming_the_field(bad):
    with pytest.raises(InvalidInput) as info:
        scenario.parse_offset(bad)
    assert info.value.field == "at"


def test_bad_scenario_lines_name_file_line_and_field(tmp_path):
    path = tmp_path / "script.jsonl"
    good = {"at": "+1m", "channel": "x", "external_id": "1", "text": "hello"}
    cases = [
        ({**good, "at": "later"}, "at"),
        ({**good, "created_at": "2026-01-01T00:00:00Z"}, "at"),
        ({k: v for k, v in good.items() if k != "text"}, None),
        ({**good, "author": {"handle": "a", "followers": -1}}, "$.author.followers"),
        ({k: v for k, v in good.items() if k != "channel"}, "channel"),
    ]
    for row, field in cases:
        path.write_text(json.dumps(good) + "\n\n" + json.dumps(row) + "\n")
        with pytest.raises(ImportRowError) as info:
            scenario.read_scenario(path)
        assert (info.value.path, info.value.line) == (str(path), 3), row
        if field:
            assert info.value.column == field, (row, str(info.value))
    path.write_text("{not json\n")
    with pytest.raises(ImportRowError, match="malformed JSON"):
        scenario.read_scenario(path)


def test_schedule_ends_at_the_given_time_in_order():
    now = datetime(2026, 11, 22, 12, 0, 30, 123456, tzinfo=UTC)
    items = scenario.schedule(scenario.read_scenario(), end=now)
    times = [m.created_at for m in items]
    assert times == sorted(times)
    assert times[-1] == now.replace(microsecond=0)
    assert timedelta(hours=40) < times[-1] - times[0] < timedelta(hours=49)


# ------------------------------------------------------------------------------ loading (both DBs)


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for the CLI on this test's database; settings are re-read per test."""
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory
    get_settings.cache_clear()
    yield {"FIREBREAK_DATA_DIR": str(tmp_path), "FIREBREAK_DATABASE_URL": database_url}
    get_settings.cache_clear()


def _run_demo(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["demo", "--no-serve", *args], env=env)
    return result


def test_demo_loads_processes_and_is_idempotent(cli_env, database_url):
    first = _run_demo(cli_env)
    assert first.exit_code == 0, first.output
    token_1 = TOKEN_RE.search(first.stdout).group(0)
    assert f"{len(FILE_ROWS)} new" in first.output
    assert "/api/v1/workspaces/demo/mentions" in first.stdout and "whsec_" in first.stdout

    db = Database(database_url)
    try:
        with db.read() as session:
            ws = session.scalar(select(Workspace).where(Workspace.slug == "demo"))
            assert ws is not None
            by_channel = dict(
                session.execute(
                    select(Channel.slug, func.count(Mention.id))
                    .join(Mention, Mention.channel_id == Channel.id)
                    .where(Channel.workspace_id == ws.id)
                    .group_by(Channel.slug)
                ).all()
            )
            assert by_channel == dict(Counter(r["channel"] for r in FILE_ROWS))
            kinds = dict(session.execute(select(Channel.slug, Channel.kind).where(Channel.workspace_id == ws.id)).all())
            assert kinds == {c.slug: c.kind for c in scenario.CHANNELS}

            authors = session.scalars(select(Author).where(Author.workspace_id == ws.id)).all()
            tagged = {tag: [a for a in authors if tag in a.tags] for tag in ("journalist", "influencer", "troll")}
            assert all(tagged.values()), tagged
            assert {a.network for a in tagged["journalist"]} >= {"x", "news"}
            assert max(a.follower_count or 0 for a in tagged["influencer"]) >= 200_000

            rows = session.execute(
                select(
                    Channel.slug,
                    Mention.external_id,
                    Mention.conversation_id,
                    Mention.direction,
                    Mention.state,
                    Mention.language,
                    Mention.normalized_text,
                    Mention.created_at,
                    Mention.received_at,
                )
                .join(Channel, Channel.id == Mention.channel_id)
                .where(Mention.workspace_id == ws.id)
            ).all()
        assert len(rows) == len(FILE_ROWS)
        roots = _roots()
        assert {(r.slug, r.external_id): r.conversation_id for r in rows} == roots
        assert sum(r.direction == "outbound" for r in rows) == sum(r.get("direction") == "outbound" for r in FILE_ROWS)
        assert {r.state for r in rows} == {"processed"}
        assert all(r.language and r.normalized_text for r in rows)
        assert {"en", "es", "de", "fr"} <= {r.language for r in rows}
        newest = max(r.created_at for r in rows)
        assert timedelta(0) < datetime.now(UTC) - newest.replace(tzinfo=UTC) < timedelta(minutes=10)
        assert all(r.received_at == r.created_at for r in rows)

        second = _run_demo(cli_env)
        assert second.exit_code == 0, second.output
        assert f"0 new, {len(FILE_ROWS)} already stored" in second.output
        token_2 = TOKEN_RE.search(second.stdout).group(0)
        with db.read() as session:
            assert session.scalar(select(func.count(Mention.id))) == len(FILE_ROWS)
            assert session.scalar(select(func.count(Author.id))) == len(authors)
            assert session.scalar(select(func.count(Workspace.id))) == 1
            assert session.scalar(select(func.count(Channel.id))) == len(scenario.CHANNELS)
            grant = workspace_service.verify_token(session=session, secret=token_2)
            assert grant.scopes == frozenset({"mentions:read", "admin"})
            with pytest.raises(Unauthorized):
                workspace_service.verify_token(session=session, secret=token_1)
    finally:
        db.dispose()


def test_reset_deletes_only_the_default_sqlite_file(cli_env, database_url):
    db = Database(database_url)
    try:
        with db.write() as session:
            workspace_service.create_workspace(session=session, slug="keepme", name="Keep me")
    finally:
        db.dispose()

    result = _run_demo(cli_env, "--reset")

    db = Database(database_url)
    try:
        with db.read() as session:
            slugs = set(session.scalars(select(Workspace.slug)))
    finally:
        db.dispose()
    if database_url.startswith("sqlite"):
        # The fixture's SQLite file is DATA_DIR/firebreak.db, the one --reset may delete.
        assert result.exit_code == 0, result.output
        assert slugs == {"demo"}
    else:
        assert result.exit_code == 2
        assert "--reset only deletes the default SQLite file" in " ".join(result.output.split())
        assert slugs == {"keepme"}


# ------------------------------------------------------------------------------ serving for real


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_demo_serves_the_scenario_over_http(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env.update(FIREBREAK_DATA_DIR=str(tmp_path / "data"), FIREBREAK_FEED_POLL_ENABLED="false")
    proc = subprocess.Popen(
        [sys.executable, "-m", "firebreak", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    try:
        token = None
        deadline = time.monotonic() + 120
        while token is None:
            assert proc.poll() is None, "demo exited early:\n" + "".join(seen)
            assert time.monotonic() < deadline, "no token printed:\n" + "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
            found = TOKEN_RE.search(seen[-1])
            token = found.group(0) if found else None

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            while True:
                try:
                    health = client.get("/health")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "server never became healthy"
                time.sleep(0.2)
            assert health.json()["database"] == "sqlite"

            assert client.get("/api/v1/workspaces/demo/mentions").status_code == 401
            page = client.get(
                "/api/v1/workspaces/demo/mentions",
                params={"limit": 500, "channel": "news"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert page.status_code == 200, page.text
            items = page.json()["items"]
            assert len(items) == sum(r["channel"] == "news" for r in FILE_ROWS)
            assert all(i["state"] == "processed" and i["author"]["tags"] == ["journalist"] for i in items)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
