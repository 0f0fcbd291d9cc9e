"""Export a workspace's mentions in the documented mention schema, as JSONL or CSV.

Mentions stream out in keyset-paginated pages (newest received first, as the API lists them), so
an export of any size holds one page in memory. JSONL keeps every field, `raw` included, and
`firebreak ingest` reads it back into the same mentions, authors and threads; CSV has the
columns documented in `firebreak.importers.mention_csv` and leaves `raw` out.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any, TextIO

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.channels.models import Channel
from firebreak.core.clock import ensure_utc
from firebreak.importers.mention_csv import COLUMNS
from firebreak.mentions import service as mention_service
from firebreak.mentions.models import Author, Mention
from firebreak.mentions.service import MentionFilter

PAGE_SIZE = 1_000


def iter_records(
    *, session: Session, workspace_id: int, filters: MentionFilter, page_size: int = PAGE_SIZE
) -> Iterator[dict[str, Any]]:
    """Yield the workspace's matching mentions as schema objects, one page of rows in memory at a time."""
    rows = session.execute(select(Channel.id, Channel.slug).where(Channel.workspace_id == workspace_id))
    slugs = {channel_id: slug for channel_id, slug in rows}
    cursor: str | None = None
    while True:
        page, cursor = mention_service.list_mentions(
            session=session, workspace_id=workspace_id, filters=filters, limit=page_size, cursor=cursor
        )
        authors = mention_service.authors_by_id(
            session=session, workspace_id=workspace_id, ids=[m.author_id for m in page if m.author_id is not None]
        )
        records = [record(m, slugs[m.channel_id], authors.get(m.author_id) if m.author_id else None) for m in page]
        # Forget the page's rows so memory stays flat however long the export runs.
        session.expunge_all()
        yield from records
        if cursor is None:
            return


def record(mention: Mention, channel_slug: str, author: Author | None) -> dict[str, Any]:
    """Return one stored mention as the documented schema object (absent fields left out)."""
    data: dict[str, Any] = {
        "external_id": mention.external_id,
        "text": mention.text,
        "created_at": ensure_utc(mention.created_at).isoformat().replace("+00:00", "Z"),
        "channel": channel_slug,
    }
    if mention.url:
        data["url"] = mention.url
    if mention.language:
        data["language"] = mention.language
    if author is not None:
        person: dict[str, Any] = {"handle": author.handle}
        if author.display_name:
            person["display_name"] = author.display_name
        if author.follower_count is not None:
            person["followers"] = author.follower_count
        if author.verified:
            person["verified"] = True
        if author.tags:
            person["tags"] = sorted(author.tags)
        data["author"] = person
    if mention.reply_to_external_id:
        data["reply_to"] = mention.reply_to_external_id
    if mention.conversation_id:
        data["conversation_id"] = mention.conversation_id
    data["direction"] = mention.direction
    if mention.raw is not None:
        data["raw"] = mention.raw
    return data


class ExportFormat(StrEnum):
    """A file format `export` writes."""

    JSONL = "jsonl"
    CSV = "csv"


def write_jsonl(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    """Write one JSON object per line; return how many were written."""
    count = 0
    for item in records:
        out.write(orjson.dumps(item).decode() + "\n")
        count += 1
    return count


def write_csv(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    """Write the documented CSV columns with a header; return how many rows were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for item in records:
        author = item.get("author") or {}
        row = {
            **{k: v for k, v in item.items() if k not in ("author", "raw")},
            "author_handle": author.get("handle", ""),
            "author_display_name": author.get("display_name", ""),
            "author_followers": author.get("followers", ""),
            "author_verified": ("true" if author.get("verified") else "false") if author else "",
            "author_tags": ";".join(author.get("tags", [])),
        }
        writer.writerow([row.get(column, "") for column in COLUMNS])
        count += 1
    return count


Writer = Callable[[Iterator[dict[str, Any]], TextIO], int]
WRITERS: dict[ExportFormat, Writer] = {ExportFormat.JSONL: write_jsonl, ExportFormat.CSV: write_csv}
