"""The signed mention webhook over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select, update

from firebreak.app import create_app
from firebreak.channels.models import Channel
from firebreak.db.engine import Database
from firebreak.mentions.models import Author, Mention
from firebreak.mentions.webhook import sign
from firebreak.settings import Settings
from tests.factories import WorkspaceFixture
from tests.live_server import serve_app

MAX_TEXT = 500
MAX_BATCH = 20
MAX_BODY = 16 * 1024


def headers_for(
    secret: str,
    body: bytes,
    *,
    channel: str = "hooks",
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Return the headers a well-behaved sender puts on a delivery of `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Firebreak-Channel": channel,
        "X-Firebreak-Timestamp": str(ts),
        "X-Firebreak-Signature": sign(secret, ts, body),
    }


def deliver(client: httpx.Client, ws: WorkspaceFixture, payload: Any, **kwargs: Any) -> httpx.Response:
    """POST `payload` (JSON-encoded unless already bytes) to the workspace's webhook, signed."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return client.post(
        f"/api/v1/workspaces/{ws.slug}/mentions", content=body, headers=headers_for(ws.webhook_secret, body, **kwargs)
    )


def count_mentions(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Mention)) or 0


@pytest.fixture
def limited(settings: Settings) -> Settings:
    """Settings with small limits, so the over-limit cases stay small."""
    settings.max_text_chars = MAX_TEXT
    settings.max_batch_size = MAX_BATCH
    settings.max_body_bytes = MAX_BODY
    return settings


@pytest.fixture
def client(limited: Settings, db: Database) -> Iterator[httpx.Client]:
    with (
        serve_app(create_app(limited, db=db, run_worker=False)) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        yield http


# ------------------------------------------------------------------------------------------ happy paths


def test_single_mention_is_committed_when_202_arrives(client, db, acme):
    payload = {
        "external_id": "tw-1",
        "text": "my order never arrived",
        "created_at": "2026-11-20T10:15:00+01:00",
        "url": "https://example.org/tw-1",
        "author": {"handle": "ann", "display_name": "Ann", "followers": 120400, "tags": ["journalist"]},
        "raw": {"source": "test", "n": [1, 2]},
    }
    response = deliver(client, acme, payload, content_type="application/json; charset=utf-8")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["created"] == 1 and body["duplicates"] == 0 and len(body["ids"]) == 1
    # A fresh session right after the response: the row must already be committed.
    with db.read() as session:
        stored = session.get(Mention, body["ids"][0])
        assert stored is not None
        author = session.get(Author, stored.author_id)
    assert stored.workspace_id == acme.id and stored.channel_id == acme.webhook_channel_id
    assert stored.external_id == "tw-1" and stored.text == "my order never arrived"
    assert stored.created_at.isoformat() == "2026-11-20T09:15:00+00:00"
    assert stored.raw == {"source": "test", "n": [1, 2]}
    assert stored.state == "pending"
    assert (author.handle, author.follower_count, author.tags) == ("ann", 120400, ["journalist"])


@pytest.mark.parametrize("shape", ["list", "wrapper", "ndjson"])
def test_batches_keep_input_order(client, db, acme, shape):
    items = [{"external_id": f"b-{i}", "text": f"post number {i}"} for i in range(5)]
    if shape == "list":
        response = deliver(client, acme, items)
    elif shape == "wrapper":
        response = deliver(client, acme, {"mentions": items})
    else:
        body = b"\n".join(orjson.dumps(item) for item in items) + b"\n"
        response = deliver(client, acme, body, content_type="application/x-ndjson")
    assert response.status_code == 202, response.text
    ids = response.json()["ids"]
    assert response.json()["created"] == 5 and len(set(ids)) == 5
    with db.read() as session:
        stored = {m.id: m.external_id for m in session.scalars(select(Mention).where(Mention.id.in_(ids)))}
    assert [stored[i] for i in ids] == [item["external_id"] for item in items]


def test_same_delivery_twice_is_stored_once_with_the_same_ids(client, db, acme):
    items = [{"external_id": i, "text": f"again {i}"} for i in range(1, 11)]
    body = orjson.dumps(items)
    headers = headers_for(acme.webhook_secret, body)
    url = f"/api/v1/workspaces/{acme.slug}/mentions"
    first = client.post(url, content=body, headers=headers)
    # The sender's retry: byte for byte the same request.
    second = client.post(url, content=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["created"] == 10 and second.json() == {
        "ids": first.json()["ids"],
        "created": 0,
        "duplicates": 10,
    }
    assert count_mentions(db) == 10


def test_concurrent_duplicate_deliveries_store_each_mention_once(client, db, acme):
    items = [{"external_id": f"c-{i}", "text": f"race {i}", "author": {"handle": f"user{i % 3}"}} for i in range(20)]
    body = orjson.dumps(items)
    url = f"{client.base_url}/api/v1/workspaces/{acme.slug}/mentions"
    start = threading.Barrier(6)
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with httpx.Client(timeout=30) as own:
                start.wait()
                responses.append(own.post(url, content=body, headers=headers_for(acme.webhook_secret, body)))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the asserts
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [r.status_code for r in responses] == [202] * 6, [r.text for r in responses]
    results = [r.json() for r in responses]
    assert sum(r["created"] for r in results) == 20
    assert all(r["ids"] == results[0]["ids"] for r in results)
    assert count_mentions(db) == 20
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Author)) == 3


def test_overlapping_deliveries_in_opposite_orders_all_succeed(settings, db, acme):
    # On PostgreSQL two such inserts can deadlock on the unique index; the sender must still get 202.
    def send(url: str, body: bytes, start: threading.Barrier, responses: list[httpx.Response]) -> None:
        with httpx.Client(timeout=30) as own:
            start.wait()
            responses.append(own.post(url, content=body, headers=headers_for(acme.webhook_secret, body)))

    with serve_app(create_app(settings, db=db, run_worker=False)) as base_url:
        url = f"{base_url}/api/v1/workspaces/{acme.slug}/mentions"
        for round_ in range(4):
            items = [{"external_id": f"o{round_}-{i}", "text": f"overlap {i}"} for i in range(300)]
            start = threading.Barrier(2)
            responses: list[httpx.Response] = []
            threads = [
                threading.Thread(target=send, args=(url, orjson.dumps(batch), start, responses))
                for batch in (items, items[::-1])
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert [r.status_code for r in responses] == [202, 202], [r.text for r in responses]
            assert sum(r.json()["created"] for r in responses) == 300
    assert count_mentions(db) == 1200


def test_webhook_wakes_the_worker(settings, db, acme):
    # A long idle interval: only the webhook's wake-up can get the mention processed quickly.
    settings.worker_idle_seconds = 60
    with (
        serve_app(create_app(settings, db=db, run_worker=True)) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        time.sleep(0.3)  # let the worker finish its first (empty) pass and start idling
        response = deliver(http, acme, {"external_id": "w-1", "text": "the flight was cancelled again"})
        assert response.status_code == 202
        mention_id = response.json()["ids"][0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.read() as session:
                stored = session.get(Mention, mention_id)
            if stored.state == "processed":
                break
            time.sleep(0.05)
    assert stored.state == "processed"
    assert stored.language == "en" and stored.normalized_text == "the flight was cancelled again"


def test_disabled_channel_is_refused(client, db, acme):
    with db.write() as session:
        session.execute(update(Channel).where(Channel.id == acme.webhook_channel_id).values(active=False))
    response = deliver(client, acme, {"external_id": "d-1", "text": "hello"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden" and "disabled" in response.json()["error"]["message"]
    assert count_mentions(db) == 0


# ------------------------------------------------------------------------------------------ bad input

GOOD = {"external_id": "e-1", "text": "hello there"}


@dataclass
class Bad:
    """One bad delivery and the error it must get."""

    status: int
    code: str
    says: str  # must appear in the message
    field: str | None = None  # the exact `field`, when the error is about one
    payload: Any = default(default_factory=lambda: GOOD)
    send: Callable[[httpx.Client, WorkspaceFixture, WorkspaceFixture, bytes], httpx.Response] | None = None


def _post(client: httpx.Client, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return client.post(path, content=body, headers=headers)


def _url(ws: WorkspaceFixture) -> str:
    return f"/api/v1/workspaces/{ws.slug}/mentions"


def _without(header: str) -> Callable[..., httpx.Response]:
    def send(client, acme, _globex, body):  # type: ignore[no-untyped-def]
        headers = headers_for(acme.webhook_secret, body)
        del headers[header]
        return _post(client, _url(acme), body, headers)

    return send


def _with(**overrides: str) -> Callable[..., httpx.Response]:
    def send(client, acme, _globex, body):  # type: ignore[no-untyped-def]
        return _post(client, _url(acme), body, {**headers_for(acme.webhook_secret, body), **overrides})

    return send


def _signed_at(offset: int) -> Callable[..., httpx.Response]:
    def send(client, acme, _globex, body):  # type: ignore[no-untyped-def]
        return _post(
            client, _url(acme), body, headers_for(acme.webhook_secret, body, timestamp=int(time.time()) + offset)
        )

    return send


def _content_type(value: str) -> Callable[..., httpx.Response]:
    def send(client, acme, _globex, body):  # type: ignore[no-untyped-def]
        return _post(client, _url(acme), body, headers_for(acme.webhook_secret, body, content_type=value))

    return send


def _other_workspace_secret(client, acme, globex, body):  # type: ignore[no-untyped-def]
    # globex's webhook channel is also called "hooks": only the secret tells them apart.
    return _post(client, _url(acme), body, headers_for(globex.webhook_secret, body))


def _tampered(client, acme, _globex, body):  # type: ignore[no-untyped-def]
    headers = headers_for(acme.webhook_secret, body)
    return _post(client, _url(acme), body.replace(b"hello", b"HELLO"), headers)


def _unknown_workspace(client, acme, _globex, body):  # type: ignore[no-untyped-def]
    return _post(client, "/api/v1/workspaces/nope/mentions", body, headers_for(acme.webhook_secret, body))


def _garbled_workspace(client, acme, _globex, body):  # type: ignore[no-untyped-def]
    # A NUL in the path: PostgreSQL would refuse to even compare it, so it must never reach a query.
    return _post(client, "/api/v1/workspaces/ac%00me/mentions", body, headers_for(acme.webhook_secret, body))


def _unknown_channel(client, acme, _globex, body):  # type: ignore[no-untyped-def]
    return _post(client, _url(acme), body, headers_for(acme.webhook_secret, body, channel="nope"))


def _chunked(client, acme, _globex, _body):  # type: ignore[no-untyped-def]
    # No Content-Length: the server must count the bytes as they stream in.
    chunk = b" " * 4096

    def stream() -> Iterator[bytes]:
        for _ in range(MAX_BODY // len(chunk) + 4):
            yield chunk

    headers = {**headers_for(acme.webhook_secret, b""), "Transfer-Encoding": "chunked"}
    return client.post(_url(acme), content=stream(), headers=headers)


BIG_TEXT = "x" * (MAX_TEXT + 1)

BAD = {
    "wrong content type": Bad(415, "unsupported_media_type", "Content-Type", send=_content_type("text/plain")),
    "form content type": Bad(
        415,
        "unsupported_media_type",
        "application/x-www-form-urlencoded",
        send=_content_type("application/x-www-form-urlencoded"),
    ),
    "empty body": Bad(422, "invalid_input", "empty", field="body", payload=b""),
    "malformed json": Bad(
        422, "invalid_input", "malformed JSON", field="body", payload=b'{"external_id": "e-1", "text": '
    ),
    "json scalar": Bad(422, "invalid_input", "Expected `object`", field="$", payload=b"42"),
    "missing required field": Bad(
        422, "invalid_input", "missing required field", field="$.text", payload={"external_id": "e-1"}
    ),
    "missing field in batch": Bad(
        422, "invalid_input", "missing required field", field="$[1].external_id", payload=[GOOD, {"text": "no id"}]
    ),
    "mistyped field": Bad(
        422, "invalid_input", "Expected `str`", field="$.text", payload={"external_id": "e-1", "text": 5}
    ),
    "mistyped nested field": Bad(
        422,
        "invalid_input",
        "Expected `int",
        field="$.author.followers",
        payload={**GOOD, "author": {"handle": "ann", "followers": "many"}},
    ),
    "bad timestamp value": Bad(
        422, "invalid_input", "datetime", field="$.created_at", payload={**GOOD, "created_at": "yesterday"}
    ),
    "bad direction": Bad(
        422, "invalid_input", "'sideways'", field="$.direction", payload={**GOOD, "direction": "sideways"}
    ),
    "unknown field": Bad(
        422, "invalid_input", "unknown field `colour`", field="$.colour", payload={**GOOD, "colour": "red"}
    ),
    "unknown field in wrapper": Bad(
        422, "invalid_input", "unknown field `extra`", field="$.extra", payload={"mentions": [GOOD], "extra": 1}
    ),
    "bad item in wrapper": Bad(
        422,
        "invalid_input",
        "Expected `str`",
        field="$.mentions[1].text",
        payload={"mentions": [GOOD, {"external_id": "e-2", "text": 7}]},
    ),
    "empty text": Bad(
        422, "invalid_input", "text is empty", field="$.text", payload={"external_id": "e-1", "text": "  \n"}
    ),
    "text over the limit": Bad(
        422, "invalid_input", f"limit is {MAX_TEXT}", field="$.text", payload={"external_id": "e-1", "text": BIG_TEXT}
    ),
    "text over the limit in a batch": Bad(
        422,
        "invalid_input",
        f"limit is {MAX_TEXT}",
        field="$[1].text",
        payload=[GOOD, {"external_id": "e-2", "text": BIG_TEXT}],
    ),
    "batch over the limit": Bad(
        413,
        "batch_too_large",
        f"limit of {MAX_BATCH}",
        payload=[{"external_id": i, "text": "t"} for i in range(MAX_BATCH + 1)],
    ),
    "body over the limit": Bad(
        413,
        "payload_too_large",
        f"limit of {MAX_BODY}",
        payload=[{"external_id": i, "text": "y" * 400} for i in range(45)],
    ),
    "chunked body over the limit": Bad(413, "payload_too_large", f"limit of {MAX_BODY}", send=_chunked),
    "missing channel header": Bad(400, "bad_request", "X-Firebreak-Channel", send=_without("X-Firebreak-Channel")),
    "missing signature": Bad(
        401, "bad_signature", "missing X-Firebreak-Signature", send=_without("X-Firebreak-Signature")
    ),
    "missing timestamp": Bad(
        401, "bad_signature", "missing X-Firebreak-Timestamp", send=_without("X-Firebreak-Timestamp")
    ),
    "signature of another scheme": Bad(
        401, "bad_signature", "sha256=", send=_with(**{"X-Firebreak-Signature": "md5=abc"})
    ),
    "wrong signature": Bad(
        401, "bad_signature", "does not match", send=_with(**{"X-Firebreak-Signature": "sha256=" + "0" * 64})
    ),
    "body changed after signing": Bad(401, "bad_signature", "does not match", send=_tampered),
    "timestamp not a number": Bad(
        401, "bad_signature", "unix seconds", send=_with(**{"X-Firebreak-Timestamp": "soon"})
    ),
    "stale timestamp": Bad(401, "bad_signature", "away from server time", send=_signed_at(-301)),
    "timestamp from the future": Bad(401, "bad_signature", "away from server time", send=_signed_at(3600)),
    "another workspace's secret": Bad(401, "bad_signature", "does not match", send=_other_workspace_secret),
    "unknown workspace": Bad(404, "not_found", "workspace 'nope'", send=_unknown_workspace),
    "garbled workspace": Bad(404, "not_found", "does not exist", send=_garbled_workspace),
    "unknown channel": Bad(404, "not_found", "channel 'nope'", send=_unknown_channel),
    "item naming another channel": Bad(
        422,
        "invalid_input",
        "'x-main'",
        field="$[1].channel",
        payload=[GOOD, {"external_id": "e-2", "text": "hi", "channel": "x-main"}],
    ),
    "NUL in the external id": Bad(
        422, "invalid_input", "NUL", field="$.external_id", payload={"external_id": "a\x00b", "text": "hi"}
    ),
    "NUL in an author handle": Bad(
        422,
        "invalid_input",
        "NUL",
        field="$[1].author.handle",
        payload=[GOOD, {"external_id": "e-2", "text": "hi", "author": {"handle": "ann\x00"}}],
    ),
    "NUL in the channel header": Bad(404, "not_found", "channel", send=_with(**{"X-Firebreak-Channel": "ho%00ks"})),
    "ndjson line wrong": Bad(
        422,
        "invalid_input",
        "line 2: Expected `str`",
        field="$[1].text",
        payload=b'{"external_id": "a", "text": "ok"}\n{"external_id": "b", "text": 1}\n',
        send=_content_type("application/x-ndjson"),
    ),
}


def test_every_bad_delivery_gets_a_clear_error_and_stores_nothing(client, db, acme, globex):
    # One server for all cases (none may store anything); every failing case is reported at once.
    failures = []
    for case, bad in BAD.items():
        body = bad.payload if isinstance(bad.payload, bytes) else orjson.dumps(bad.payload)
        response = bad.send(client, acme, globex, body) if bad.send else deliver(client, acme, body)
        try:
            error = response.json()["error"]
        except (ValueError, KeyError):
            failures.append(f"{case}: {response.status_code} without a JSON error: {response.text[:200]}")
            continue
        got = (response.status_code, error["code"], error.get("field"))
        if got != (bad.status, bad.code, bad.field) or bad.says not in error["message"]:
            failures.append(
                f"{case}: expected {(bad.status, bad.code, bad.field)} saying {bad.says!r}, got {got}: "
                f"{error['message']!r}"
            )
        elif not response.headers["content-type"].startswith("application/json"):
            failures.append(f"{case}: content-type {response.headers['content-type']}")
        if count_mentions(db) != 0:
            failures.append(f"{case}: stored mentions")
            break
    assert not failures, "\n".join(failures)
