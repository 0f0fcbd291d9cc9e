"""Idempotent batch ingest, authors and thread keys, on both databases."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from firebreak.mentions.models import Author, Mention
from tests.factories import ingest, mention


def test_same_batch_twice_is_stored_once(db, acme):
    batch = [mention(i, f"post {i}") for i in range(1, 51)]
    first = ingest(db, acme, batch)
    second = ingest(db, acme, batch)
    assert first.created == 50 and first.duplicates == 0
    assert second.created == 0 and second.duplicates == 50
    assert second.ids == first.ids
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Mention)) == 50


def test_duplicates_inside_one_batch_map_to_one_row(db, acme):
    result = ingest(db, acme, [mention("7", "a"), mention("8", "b"), mention("7", "a again")])
    assert result.created == 2 and result.duplicates == 1
    assert result.ids[0] == result.ids[2] != result.ids[1]


def test_same_external_id_on_two_channels_is_two_mentions(db, acme):
    a = ingest(db, acme, [mention("1")], channel_slug="x-main")
    b = ingest(db, acme, [mention("1")], channel_slug="hooks")
    assert a.ids != b.ids


def test_concurrent_duplicate_deliveries_store_one_row(db, acme):
    batch = [mention(i) for i in range(100, 160)]
    results, errors = [], []

    def deliver() -> None:
        try:
            results.append(ingest(db, acme, batch))
        except Exception as exc:  # pragma: no cover - surfaced by the assert
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.created for r in results) == 60
    assert all(r.ids == results[0].ids for r in results)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Mention)) == 60


def test_authors_are_upserted_and_merged(db, acme):
    ingest(db, acme, [mention(1, author={"handle": "ann", "followers": 10, "tags": ["customer"]})])
    ingest(db, acme, [mention(2, author={"handle": "ann", "followers": 120400, "display_name": "Ann",
                                          "tags": ["journalist"]})])
    with db.read() as s:
        authors = list(s.scalars(select(Author)))
    assert len(authors) == 1
    assert authors[0].follower_count == 120400 and authors[0].display_name == "Ann"
    assert authors[0].tags == ["customer", "journalist"]


def test_reply_joins_parent_conversation_even_when_it_arrives_first(db, acme):
    ingest(db, acme, [mention("30", "reply to a reply", reply_to="20")])
    ingest(db, acme, [mention("20", "reply", reply_to="10")])
    ingest(db, acme, [mention("10", "root post")])
    with db.read() as s:
        convs = {m.external_id: m.conversation_id for m in s.scalars(select(Mention))}
    assert convs == {"10": "10", "20": "10", "30": "10"}


def test_nul_characters_are_dropped_not_rejected(db, acme):
    ingest(db, acme, [mention(1, "bad\x00byte", raw={"k": "v\x00"})])
    with db.read() as s:
        m = s.scalar(select(Mention))
    assert m.text == "badbyte" and m.raw == {"k": "v"}
