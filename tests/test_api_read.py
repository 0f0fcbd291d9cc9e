"""Token-protected reads over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from firebreak.app import create_app
from firebreak.channels import service as channel_service
from firebreak.db.engine import Database
from firebreak.mentions import service as mention_service
from firebreak.mentions.models import Mention
from firebreak.mentions.schemas import MentionIn
from firebreak.services import build_pipeline
from firebreak.settings import Settings
from firebreak.worker import BackgroundWorker
from firebreak.workspaces import service as workspace_service
from firebreak.workspaces.models import ApiToken
from tests.factories import T0, WorkspaceFixture, ingest, mention
from tests.live_server import serve_app


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[httpx.Client]:
    with (
        serve_app(create_app(settings, db=db, run_worker=False)) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        yield http


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(ws: WorkspaceFixture | str, rest: str = "/mentions") -> str:
    slug = ws if isinstance(ws, str) else ws.slug
    return f"/api/v1/workspaces/{slug}{rest}"


def ingest_at(
    db: Database, ws: WorkspaceFixture, items: list[MentionIn], *, minutes: int, channel: str = "x-main"
) -> list[int]:
    """Store `items` as received `minutes` after T0 and return their ids."""
    with db.write() as session:
        channels = channel_service.channels_by_slug(session=session, workspace_id=ws.id)
        result = mention_service.ingest_mentions(
            session=session,
            workspace_id=ws.id,
            channels=channels,
            default_channel=channels[channel],
            items=items,
            received_at=T0 + timedelta(minutes=minutes),
        )
    return result.ids


def walk(client: httpx.Client, token: str, path: str, **params: object) -> tuple[list[int], int]:
    """Follow `next_cursor` to the end; return every id seen and how many pages it took."""
    ids: list[int] = []
    pages = 0
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query, headers=auth(token))
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 100, "pagination does not end"


# ------------------------------------------------------------------------------------------ access


def test_reads_need_a_token_of_this_workspace(client, db, acme, globex):
    [globex_id] = ingest(db, globex, [mention("g-1", "globex only")]).ids
    [acme_id] = ingest(db, acme, [mention("a-1", "acme only")]).ids

    missing = client.get(url(acme))
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    assert "Bearer" in missing.json()["error"]["message"]
    for header in ("Bearer fbk_not-a-token", "Bearer", "Bearer  x y", f"Basic {acme.read_token}", acme.read_token):
        response = client.get(url(acme), headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "unauthorized"

    # Another workspace's data answers exactly like a workspace that does not exist.
    foreign = client.get(url(globex), headers=auth(acme.read_token))
    nowhere = client.get(url("no-such-ws"), headers=auth(acme.read_token))
    assert foreign.status_code == nowhere.status_code == 404
    assert foreign.json()["error"]["code"] == nowhere.json()["error"]["code"] == "not_found"
    assert foreign.json()["error"]["message"].replace("globex", "X") == nowhere.json()["error"]["message"].replace(
        "no-such-ws", "X"
    )
    garbled = client.get("/api/v1/workspaces/ac%00me/mentions", headers=auth(acme.read_token))
    assert garbled.status_code == 404 and garbled.json()["error"]["code"] == "not_found"
    assert client.get(url(globex, f"/mentions/{globex_id}"), headers=auth(acme.read_token)).status_code == 404
    assert client.get(url(globex, "/pipeline"), headers=auth(acme.read_token)).status_code == 404
    # ...and through its own workspace, another workspace's mention id does not exist.
    assert client.get(url(acme, f"/mentions/{globex_id}"), headers=auth(acme.read_token)).status_code == 404
    own = client.get(url(acme, f"/mentions/{acme_id}"), headers=auth(acme.read_token))
    assert own.status_code == 200 and own.json()["text"] == "acme only"
    listed = client.get(url(acme), headers=auth(acme.read_token)).json()["items"]
    assert [m["id"] for m in listed] == [acme_id]

    # A revoked token stops working at once.
    with db.write() as session:
        token_id = session.scalar(
            select(ApiToken.id).where(ApiToken.workspace_id == acme.id, ApiToken.name == "reader")
        )
        workspace_service.revoke_token(session=session, workspace_id=acme.id, token_id=token_id, actor="test")
    revoked = client.get(url(acme), headers=auth(acme.read_token))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_read_token_cannot_retry_but_admin_can(client, db, acme):
    [parked_id] = ingest(db, acme, [mention("p-1", "this one broke")]).ids
    with db.write() as session:
        session.execute(
            update(Mention).where(Mention.id == parked_id).values(state="parked", attempts=5, last_error="boom")
        )

    status = client.get(url(acme, "/pipeline"), headers=auth(acme.read_token))
    assert status.status_code == 200
    assert status.json()["states"] == {"parked": 1}
    assert [p["id"] for p in status.json()["parked"]] == [parked_id]

    denied = client.post(url(acme, "/pipeline/retry"), json={}, headers=auth(acme.read_token))
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden" and "admin" in denied.json()["error"]["message"]
    with db.read() as session:
        assert session.get(Mention, parked_id).state == "parked"

    allowed = client.post(
        url(acme, "/pipeline/retry"), json={"mention_ids": [parked_id]}, headers=auth(acme.admin_token)
    )
    assert allowed.status_code == 200 and allowed.json() == {"requeued": 1}
    with db.read() as session:
        assert session.get(Mention, parked_id).state == "pending"
    not_parked = client.post(
        url(acme, "/pipeline/retry"), json={"mention_ids": [parked_id]}, headers=auth(acme.admin_token)
    )
    assert not_parked.status_code == 404 and str(parked_id) in not_parked.json()["error"]["message"]


# ------------------------------------------------------------------------------------------ listing


def test_filters_narrow_the_listing(client, db, settings, acme):
    early = ingest_at(
        db, acme, [mention("f-1", "early inbound"), mention("f-2", "early reply", direction="outbound")], minutes=0
    )
    # Process the early ones so `state` has something to tell apart.
    BackgroundWorker(db, build_pipeline(settings)).drain()
    late = ingest_at(db, acme, [mention("f-3", "late on the webhook channel")], minutes=30, channel="hooks")

    def ids(**params: object) -> list[int]:
        response = client.get(url(acme), params=params, headers=auth(acme.read_token))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [late[0], early[1], early[0]]
    assert ids(channel="hooks") == late
    assert ids(channel="x-main") == [early[1], early[0]]
    assert ids(direction="outbound") == [early[1]]
    assert ids(state="processed") == [early[1], early[0]]
    assert ids(state="pending") == late
    assert ids(since=(T0 + timedelta(minutes=10)).isoformat()) == late
    assert ids(until=(T0 + timedelta(minutes=10)).isoformat()) == [early[1], early[0]]
    # The same instant written with an offset means the same thing.
    assert ids(since="2026-11-20T10:10:00+01:00") == late
    assert ids(channel="x-main", direction="inbound", state="processed") == [early[0]]
    assert ids(limit=1) == late

    item = client.get(url(acme), params={"channel": "hooks"}, headers=auth(acme.read_token)).json()["items"][0]
    assert item["external_id"] == "f-3" and item["state"] == "pending" and item["direction"] == "inbound"

    for params, where in (
        ({"state": "lost"}, "state"),
        ({"direction": "sideways"}, "direction"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"since": "last tuesday"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ):
        response = client.get(url(acme), params=params, headers=auth(acme.read_token))
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
        assert where in response.json()["error"]["field"], response.json()
    for channel in ("nope", "ho\x00oks"):
        unknown = client.get(url(acme), params={"channel": channel}, headers=auth(acme.read_token))
        assert unknown.status_code == 404 and "unknown channel" in unknown.json()["error"]["message"]


def test_full_text_search_finds_words_and_survives_odd_input(client, db, acme, globex):
    ids = ingest(
        db,
        acme,
        [
            mention("s-1", "My order never arrived and nobody answers"),
            mention("s-2", "Refund please: order #123 was wrong"),
            mention("s-3", "Great service today, thank you!"),
            mention("s-4", "Le vol est en retard, encore"),
        ],
    ).ids
    ingest(db, globex, [mention("s-9", "globex order lost")])

    def search(q: str) -> list[int]:
        response = client.get(url(acme), params={"q": q}, headers=auth(acme.read_token))
        assert response.status_code == 200, (q, response.text)
        return sorted(item["id"] for item in response.json()["items"])

    assert search("order") == [ids[0], ids[1]]
    assert search("ORDER never") == [ids[0]]
    assert search("refund") == [ids[1]]
    assert search("retard") == [ids[3]]
    assert search("thank you") == [ids[2]]
    assert search("order (") == [ids[0], ids[1]]
    assert search("nothing-like-this") == []
    for odd in (
        '"',
        '"order',
        "AND (",
        "order AND (",
        "NEAR(",
        "*",
        "'",
        "o'brien",
        "-",
        ":",
        "^",
        "\\",
        "()",
        "order OR",
        "a:b",
        '""""',
        "%",
        "_",
    ):
        search(odd)  # must answer 200, whatever it finds


def test_cursor_pagination_walks_every_mention_once(client, db, acme):
    # Three receive times, the middle one shared by a whole batch (ties broken by id).
    ingest_at(db, acme, [mention(f"p-{i}", f"first wave {i}") for i in range(7)], minutes=0)
    ingest_at(db, acme, [mention(f"q-{i}", f"second wave {i}") for i in range(11)], minutes=5)
    ingest_at(db, acme, [mention(f"r-{i}", f"third wave {i}", direction="outbound") for i in range(5)], minutes=9)
    with db.read() as session:
        expected = list(
            session.scalars(
                select(Mention.id)
                .where(Mention.workspace_id == acme.id)
                .order_by(Mention.received_at.desc(), Mention.id.desc())
            )
        )
    assert len(expected) == 23

    for limit in (1, 4, 11, 23, 50):
        seen, pages = walk(client, acme.read_token, url(acme), limit=limit)
        assert seen == expected, limit
        assert pages == max(1, -(-23 // limit)), limit

    # Filters hold across pages too.
    seen, _ = walk(client, acme.read_token, url(acme), limit=2, q="wave", direction="inbound")
    assert seen == expected[5:]


# ------------------------------------------------------------------------------------------ detail


def test_detail_returns_the_thread_in_order(client, db, acme):
    stored = ingest(
        db,
        acme,
        [
            mention("t-3", "reply to the reply", reply_to="t-2", created_at=T0 + timedelta(minutes=3)),
            mention(
                "t-1",
                "root post",
                created_at=T0 + timedelta(minutes=1),
                author={"handle": "ann", "display_name": "Ann", "followers": 99},
                raw={"id": "t-1", "lang": "en"},
            ),
            mention("t-2", "a reply", reply_to="t-1", created_at=T0 + timedelta(minutes=2)),
            mention("t-9", "unrelated post", created_at=T0),
        ],
    )
    by_ext = dict(zip(["t-3", "t-1", "t-2", "t-9"], stored.ids, strict=True))

    response = client.get(url(acme, f"/mentions/{by_ext['t-2']}"), headers=auth(acme.read_token))
    assert response.status_code == 200
    detail = response.json()
    assert detail["id"] == by_ext["t-2"] and detail["reply_to_external_id"] == "t-1"
    assert [m["external_id"] for m in detail["thread"]] == ["t-1", "t-2", "t-3"]
    assert detail["thread"][0]["author"]["handle"] == "ann" and detail["thread"][0]["author"]["follower_count"] == 99

    root = client.get(url(acme, f"/mentions/{by_ext['t-1']}"), headers=auth(acme.read_token)).json()
    assert root["raw"] == {"id": "t-1", "lang": "en"}
    assert [m["id"] for m in root["thread"]] == [by_ext["t-1"], by_ext["t-2"], by_ext["t-3"]]
    alone = client.get(url(acme, f"/mentions/{by_ext['t-9']}"), headers=auth(acme.read_token)).json()
    assert [m["id"] for m in alone["thread"]] == [by_ext["t-9"]]

    missing = client.get(url(acme, "/mentions/999999"), headers=auth(acme.read_token))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert "999999" in missing.json()["error"]["message"]
    bad = client.get(url(acme, "/mentions/0"), headers=auth(acme.read_token))
    assert bad.status_code == 422 and "mention_id" in bad.json()["error"]["field"]
    not_a_number = client.get(url(acme, "/mentions/abc"), headers=auth(acme.read_token))
    assert not_a_number.status_code == 422


# ------------------------------------------------------------------------------------------ service


def test_health_reports_a_current_schema(client, db):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["schema_current"] is True
    assert body["database"] == db.dialect and body["schema"]


def test_openapi_lists_the_routes_and_docs_render(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert set(paths["/api/v1/workspaces/{workspace}/mentions"]) == {"get", "post"}
    assert "get" in paths["/api/v1/workspaces/{workspace}/mentions/{mention_id}"]
    assert "get" in paths["/api/v1/workspaces/{workspace}/pipeline"]
    assert "post" in paths["/api/v1/workspaces/{workspace}/pipeline/retry"]
    assert "get" in paths["/health"]
    # The webhook's hand-decoded body is documented, and every reference in the document resolves.
    body = paths["/api/v1/workspaces/{workspace}/mentions"]["post"]["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["oneOf"]) == 3
    components = spec.json()["components"]["schemas"]
    assert {"MentionIn", "AuthorIn", "MentionBatch"} <= set(components)
    assert components["MentionIn"]["required"] == ["external_id", "text"]
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', spec.text))
    assert refs and refs <= set(components), refs - set(components)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    unknown = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
