"""File importers: each format, the public datasets, bad input, and storing on both databases."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from firebreak.core.errors import ImportRowError, NotFound
from firebreak.importers.export import iter_records
from firebreak.importers.formats import ImportFormat, detect_format, read_file
from firebreak.importers.rows import ParsedFile
from firebreak.importers.store import check_channels, store_batches
from firebreak.mentions import service as mention_service
from firebreak.mentions.models import Author, Mention
from firebreak.mentions.service import MentionFilter

DATA = Path("/work/shared/data")
AIRLINE = DATA / "airline" / "airline_train.csv"
TWCS = DATA / "twcs" / "twcs_sample.csv"
LIMIT = 280

CSV_HEADER = (
    "external_id,text,created_at,channel,url,language,author_handle,author_display_name,"
    "author_followers,author_verified,author_tags,reply_to,conversation_id,direction"
)


def parse(tmp_path: Path, name: str, content: str | bytes, **kwargs) -> ParsedFile:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    kwargs.setdefault("max_text_chars", LIMIT)
    return read_file(path, **kwargs)


def error_of(tmp_path: Path, name: str, content: str | bytes, **kwargs) -> ImportRowError:  # type: ignore[no-untyped-def]
    with pytest.raises(ImportRowError) as caught:
        parse(tmp_path, name, content, **kwargs)
    return caught.value


# ------------------------------------------------------------------------------------ own schema


def test_jsonl_maps_every_field_and_keeps_line_numbers(tmp_path):
    parsed = parse(
        tmp_path,
        "m.jsonl",
        '{"external_id": 1, "text": "my order never arrived", "created_at": "2026-11-20T09:15:00+01:00",'
        ' "channel": "hooks", "url": "https://x.com/ann/status/1", "language": "en",'
        ' "author": {"handle": "ann", "display_name": "Ann", "followers": 12, "verified": true,'
        ' "tags": ["journalist"]},'
        ' "reply_to": "0", "conversation_id": "0", "direction": "outbound", "raw": {"k": [1, 2]}}\n'
        "\n"
        '{"external_id": "2", "text": "second"}\n',
    )
    assert parsed.format == "jsonl" and parsed.rows_read == 2 and parsed.lines == [1, 3]
    first, second = parsed.items
    assert first.external_id == 1 and first.channel == "hooks" and first.direction == "outbound"
    assert first.created_at == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert first.author is not None and first.author.handle == "ann" and first.author.tags == ["journalist"]
    assert first.raw == {"k": [1, 2]} and first.reply_to == "0"
    assert second.author is None and second.direction == "inbound"


def test_csv_maps_every_column(tmp_path):
    parsed = parse(
        tmp_path,
        "m.csv",
        CSV_HEADER + "\n"
        '7,"hello, ""world""",2026-11-20T09:15:00Z,hooks,https://e/7,en,ann,Ann A,120400,yes,journalist; customer,'
        "6,5,outbound\n"
        "8,just text,,,,,,,,,,,,\n",
    )
    assert parsed.format == "csv" and parsed.rows_read == 2 and parsed.lines == [2, 3]
    full, bare = parsed.items
    assert full.external_id == "7" and full.text == 'hello, "world"' and full.channel == "hooks"
    assert full.created_at == datetime(2026, 11, 20, 9, 15, tzinfo=UTC) and full.url == "https://e/7"
    assert full.author is not None and full.author.followers == 120400 and full.author.verified is True
    assert full.author.tags == ["journalist", "customer"] and full.author.display_name == "Ann A"
    assert (full.reply_to, full.conversation_id, full.direction) == ("6", "5", "outbound")
    assert bare.author is None and bare.created_at is None and bare.channel is None


def test_csv_needs_only_external_id_and_text_in_any_order(tmp_path):
    parsed = parse(tmp_path, "m.csv", "text,external_id\nfirst post,1\nsecond post,2\n")
    assert [(m.external_id, m.text) for m in parsed.items] == [("1", "first post"), ("2", "second post")]


# ------------------------------------------------------------------------------ public datasets


def test_airline_file_maps_ids_dates_and_labels():
    parsed = read_file(AIRLINE, max_text_chars=20_000)
    with AIRLINE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert parsed.format == "airline" and parsed.rows_read == len(rows) == 11_719 and not parsed.skipped
    first = parsed.items[0]
    assert first.external_id == "570306133677760513" and first.text == "@VirginAmerica What @dhepburn said."
    # 2015-02-24 11:35:52 -0800 is 19:35:52 UTC.
    assert first.created_at == datetime(2015, 2, 24, 19, 35, 52, tzinfo=UTC)
    assert first.author is None
    assert first.raw == {"airline": "Virgin America", "airline_sentiment": "neutral", "negativereason": None}
    labels = Counter(m.raw["airline_sentiment"] for m in parsed.items if m.raw)
    assert labels == {"negative": 7_346, "neutral": 2_481, "positive": 1_892}
    negative = next(m for m in parsed.items if m.raw and m.raw["negativereason"])
    assert negative.raw is not None and negative.raw["airline_sentiment"] == "negative"
    # Repeated tweet ids are read as rows and become duplicates on ingest.
    assert len({m.external_id for m in parsed.items}) == len({r["tweet_id"] for r in rows}) < len(rows)


def test_twcs_sample_rebuilds_the_documented_conversations():
    parsed = read_file(TWCS, max_text_chars=20_000)
    items = parsed.items
    assert parsed.format == "twcs" and len(items) == 3_555 and not parsed.skipped
    assert len({m.conversation_id for m in items}) == 1_042
    directions = Counter(m.direction for m in items)
    assert directions == {"inbound": 1_936, "outbound": 1_619}
    brands = {m.author.handle for m in items if m.author and m.direction == "outbound"}
    assert len(brands) == 73
    assert all(m.author and m.author.tags == ["brand"] for m in items if m.direction == "outbound")
    assert all(m.author and m.author.tags == [] for m in items if m.direction == "inbound")
    by_id = {m.external_id: m for m in items}
    # Tweet 29 opens the Spectrum thread; 23 answers 21; 19 (Sprint) answers 20 in another thread.
    assert {by_id[t].conversation_id for t in ("21", "22", "23", "24", "25", "26", "27", "28", "29")} == {"29"}
    assert by_id["29"].reply_to is None and by_id["23"].reply_to == "21" and by_id["28"].reply_to == "29"
    assert by_id["19"].conversation_id == by_id["20"].conversation_id == "20"
    assert by_id["19"].created_at == datetime(2017, 10, 31, 22, 10, 10, tzinfo=UTC)
    # Every conversation has exactly one root, and it is the conversation's key.
    roots = Counter(m.conversation_id for m in items if m.reply_to is None or m.reply_to not in by_id)
    assert all(n == 1 for n in roots.values()) and len(roots) == 1_042
    assert all(by_id[c].reply_to is None or by_id[c].reply_to not in by_id for c in roots)


def test_twcs_root_is_the_earliest_parentless_tweet(tmp_path):
    # Tweets 1 and 2 both answer tweet 8, which is not in the file: the earlier one is the root.
    parsed = parse(
        tmp_path,
        "t.csv",
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "2,brand,False,Tue Oct 31 22:00:00 +0000 2017,later answer,,8\n"
        "1,brand,False,Tue Oct 31 21:00:00 +0000 2017,earlier answer,3,8.0\n"
        "3,77,True,Tue Oct 31 23:00:00 -0100 2017,thanks,,1\n"
        "9,77,True,Tue Oct 31 20:00:00 +0000 2017,unrelated,,\n",
        fmt="twcs",
    )
    convs = {m.external_id: m.conversation_id for m in parsed.items}
    assert convs == {"1": "1", "2": "1", "3": "1", "9": "9"}
    tweet_3 = next(m for m in parsed.items if m.external_id == "3")
    assert tweet_3.created_at == datetime(2017, 11, 1, 0, 0, tzinfo=UTC) and tweet_3.direction == "inbound"


def test_formats_are_detected_from_name_and_header(tmp_path):
    assert detect_format(AIRLINE.read_bytes()[:4096], path=str(AIRLINE)) is ImportFormat.AIRLINE
    assert detect_format(TWCS.read_bytes()[:4096], path=str(TWCS)) is ImportFormat.TWCS
    assert detect_format(b"external_id,text\n1,a\n", path="x.csv") is ImportFormat.CSV
    assert detect_format(b'{"external_id": 1, "text": "a"}\n', path="mentions.txt") is ImportFormat.JSONL
    assert detect_format(b"", path="mentions.ndjson") is ImportFormat.JSONL
    with pytest.raises(ImportRowError, match=r"cannot tell the format .*--format"):
        detect_format(b"id,body\n1,a\n", path="other.csv")
    with pytest.raises(ImportRowError, match=r"is the header missing\?"):
        detect_format(b"570306133677760513,hello\n", path="other.csv")


# --------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "line", "column", "message"),
    [
        ("id,text\n1,a\n", 1, None, "lacks column(s) external_id"),
        ("1,hello\n2,world\n", 1, None, "is the header missing?"),
        ("external_id,text,colour\n1,a,red\n", 1, "colour", "unknown column(s) colour"),
        ("external_id,text,text\n1,a,b\n", 1, None, "repeats column(s) text"),
        (CSV_HEADER + "\n1,ok" + ",," * 6 + "\n2,bad,,,,,ann,,12x,,,,,\n", 3, "author_followers", "not a whole number"),
        ("external_id,text,created_at\n1,a,2026-11-20\n2,b,yesterday\n", 3, "created_at", "not an ISO 8601"),
        ("external_id,text,author_verified,author_handle\n1,a,maybe,ann\n", 2, "author_verified", "not true or false"),
        ("external_id,text\n1,a\n2,\n", 3, "text", "text is empty"),
        ("external_id,text\n1,a\n,b\n", 3, "external_id", "external_id is empty"),
        ("external_id,text,author_followers\n1,a,5\n", 2, "author_handle", "author_followers is given"),
        ("external_id,text,direction\n1,a,sideways\n", 2, "direction", "Invalid enum value 'sideways'"),
        ("external_id,text\n1,a\n2,b,c\n", 3, None, "the row has 3 fields; the header has 2"),
        ('external_id,text\n1,"never closed\n2,b\n', 2, None, "unterminated quote"),
        ('external_id,text\n1,a "quoted" word\n2,"x"y\n', 3, None, "malformed CSV"),
        ("external_id,text\n1," + "x" * (LIMIT + 1) + "\n", 2, "text", f"the limit is {LIMIT}"),
    ],
)
def test_bad_csv_names_file_line_and_column(tmp_path, content, line, column, message):
    error = error_of(tmp_path, "bad.csv", content, fmt="csv")
    assert (error.path, error.line, error.column) == (str(tmp_path / "bad.csv"), line, column)
    assert message in error.message
    assert str(error).startswith(f"{tmp_path / 'bad.csv'}:{line}")


@pytest.mark.parametrize(
    ("line_text", "column", "message"),
    [
        ('{"external_id": 2, "text": "a"', None, "the line ends before the object does"),
        ('{"external_id": 2, "text": x}', "28", "malformed JSON: invalid character"),
        ('{"external_id": 2}', "text", "missing required field `text`"),
        ('{"external_id": 2, "text": "a", "txt": "b"}', "txt", "unknown field `txt`"),
        ('{"external_id": 2, "text": 5}', "text", "Expected `str`, got `int`"),
        ('{"external_id": 2, "text": "a", "author": {"handle": "ann", "followers": -1}}', "author.followers", ">= 0"),
        ('{"external_id": 2, "text": "a", "created_at": "soon"}', "created_at", "RFC3339"),
        ('{"external_id": 2, "text": "' + "y" * (LIMIT + 1) + '"}', "text", f"the limit is {LIMIT}"),
        ('{"external_id": 2, "text": "   "}', "text", "text is empty"),
        ("[1, 2]", None, "Expected `object`, got `array`"),
    ],
)
def test_bad_jsonl_names_file_line_and_column(tmp_path, line_text, column, message):
    error = error_of(tmp_path, "bad.jsonl", '{"external_id": 1, "text": "fine"}\n' + line_text + "\n")
    assert (error.line, error.column) == (2, column)
    assert message in error.message


def test_bad_rows_in_the_public_formats(tmp_path):
    airline_header = "tweet_id,airline,airline_sentiment,negativereason,text,tweet_created\n"
    error = error_of(tmp_path, "a.csv", airline_header + "57x,Delta,neutral,,hi,2015-02-24 11:35:52 -0800\n")
    assert (error.line, error.column) == (2, "tweet_id")
    error = error_of(tmp_path, "a.csv", airline_header + "57,Delta,neutral,,hi,24/02/2015\n")
    assert (error.line, error.column) == (2, "tweet_created")
    twcs_header = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    error = error_of(tmp_path, "t.csv", twcs_header + "1,a,Maybe,Tue Oct 31 22:00:00 +0000 2017,hi,,\n")
    assert (error.line, error.column) == (2, "inbound")
    error = error_of(tmp_path, "t.csv", twcs_header + "1,a,True,Tue Oct 99 22:00:00 +0000 2017,hi,,\n")
    assert (error.line, error.column) == (2, "created_at")
    error = error_of(tmp_path, "t.csv", twcs_header + "1,a,True,Tue Oct 31 22:00:00 +0000 2017,hi,2;3,\n")
    assert (error.line, error.column) == (2, "response_tweet_id")
    error = error_of(tmp_path, "t.csv", "tweet_id,author_id,text\n1,a,hi\n", fmt="twcs")
    assert error.line == 1 and "lacks column(s) inbound" in error.message
    error = error_of(tmp_path, "x.csv", b"external_id,text\n1,caf\xe9\n")
    assert (error.line, error.column) == (2, "6") and "not UTF-8" in error.message


def test_skip_bad_rows_keeps_the_good_ones_and_lists_the_bad(tmp_path):
    parsed = parse(
        tmp_path,
        "mixed.csv",
        "external_id,text,author_handle,author_followers\n"
        "1,good,ann,1\n"
        '2,"unterminated,bob,2\n'
        "3,good too,carl,3\n"
        "4,bad number,dan,many\n"
        "5,extra,field,4,5\n"
        "6,last good,,\n",
        skip_bad_rows=True,
    )
    assert [m.external_id for m in parsed.items] == ["1", "3", "6"]
    assert parsed.lines == [2, 4, 7]
    assert [(e.line, e.column) for e in parsed.skipped] == [(3, None), (5, "author_followers"), (6, None)]
    assert parsed.rows_read == 6


# ------------------------------------------------------------------------------- storing (both DBs)


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_twcs_sample_stored_as_threads(db, acme):
    parsed = read_file(TWCS, max_text_chars=20_000)
    first = store_batches(db=db, workspace_id=acme.id, parsed=parsed, default_slug="x-main", batch_size=1_000)
    again = store_batches(db=db, workspace_id=acme.id, parsed=parsed, default_slug="x-main", batch_size=1_000)
    assert (first.created, first.duplicates, first.batches) == (3_555, 0, 4)
    assert (again.created, again.duplicates) == (0, 3_555)
    with db.read() as session:
        assert session.scalar(select(func.count(func.distinct(Mention.conversation_id)))) == 1_042
        brands = session.scalars(select(Author).where(Author.tags.is_not(None))).all()
        assert sum(1 for a in brands if a.tags == ["brand"]) == 73
        tweet = session.scalar(select(Mention).where(Mention.external_id == "22"))
        thread = mention_service.get_thread(session=session, mention=tweet)
    assert [m.external_id for m in thread] == ["29", "28", "24", "21", "23", "22", "25", "26", "27"]
    assert [m.direction for m in thread][:3] == ["inbound", "outbound", "inbound"]


def test_airline_rows_store_labels_and_count_repeats_as_duplicates(db, acme, tmp_path):
    with AIRLINE.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        rows = [next(reader) for _ in range(301)]
    rows.append(rows[1])  # the first data row again, as the real file repeats some tweet ids
    target = tmp_path / "airline.csv"
    with target.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    distinct = len({row[0] for row in rows[1:]})
    parsed = read_file(target, max_text_chars=20_000)
    result = store_batches(db=db, workspace_id=acme.id, parsed=parsed, default_slug="x-main", batch_size=128)
    assert parsed.rows_read == 301 and (result.created, result.duplicates) == (distinct, 301 - distinct)
    with db.read() as session:
        stored = session.scalar(select(Mention).where(Mention.external_id == "570301031407624196"))
    assert stored.raw == {"airline": "Virgin America", "airline_sentiment": "negative", "negativereason": "Bad Flight"}
    assert stored.author_id is None and stored.created_at == datetime(2015, 2, 24, 19, 15, 36, tzinfo=UTC)
    assert _count(db, Author) == 0


def test_rows_naming_channels_are_checked_before_anything_is_stored(db, acme, tmp_path):
    content = (
        '{"external_id": 1, "text": "to hooks", "channel": "hooks"}\n'
        '{"external_id": 2, "text": "to the default"}\n'
        '{"external_id": 3, "text": "nowhere", "channel": "forum"}\n'
    )
    parsed = parse(tmp_path, "c.jsonl", content)
    with pytest.raises(ImportRowError) as caught:
        check_channels(
            parsed, known={"x-main", "hooks"}, default_slug="x-main", create_missing=False, skip_bad_rows=False
        )
    assert (caught.value.line, caught.value.column) == (3, "channel") and "unknown channel 'forum'" in str(caught.value)
    with pytest.raises(NotFound, match="'missing' does not exist"):
        check_channels(parsed, known={"x-main"}, default_slug="missing", create_missing=False, skip_bad_rows=False)
    to_create = check_channels(
        parsed, known={"x-main", "hooks"}, default_slug="x-main", create_missing=True, skip_bad_rows=False
    )
    assert to_create == {"forum"}
    no_default = parse(tmp_path, "c.jsonl", content)
    check_channels(
        no_default, known={"x-main", "hooks", "forum"}, default_slug=None, create_missing=False, skip_bad_rows=True
    )
    assert [m.external_id for m in no_default.items] == [1, 3]
    assert [(e.line, e.column) for e in no_default.skipped] == [(2, "channel")]
    result = store_batches(
        db=db, workspace_id=acme.id, parsed=parse(tmp_path, "c.jsonl", content.split("\n")[0]), default_slug=None
    )
    assert result.created == 1
    with db.read() as session:
        stored = session.scalar(select(Mention))
    assert stored.channel_id == acme.webhook_channel_id


def test_export_pages_through_every_mention_once(db, acme):
    from tests.factories import ingest, mention

    ingest(db, acme, [mention(i, f"post {i}", author={"handle": f"u{i % 3}"}) for i in range(1, 8)])
    with db.read() as session:
        records = list(iter_records(session=session, workspace_id=acme.id, filters=MentionFilter(), page_size=2))
    assert sorted(int(r["external_id"]) for r in records) == list(range(1, 8))
    assert {r["author"]["handle"] for r in records} == {"u0", "u1", "u2"}
    assert all(r["channel"] == "x-main" and r["direction"] == "inbound" for r in records)
