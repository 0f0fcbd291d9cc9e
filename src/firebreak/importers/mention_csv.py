"""Read the documented mention schema as CSV: one mention per row, with a header line.

Columns (any order; only `external_id` and `text` are required; an empty cell means "not given"):

    external_id          unique id of the post on its channel
    text                 the post text, 1..FIREBREAK_MAX_TEXT_CHARS characters
    created_at           ISO 8601 date and time, e.g. 2026-11-20T09:15:00Z (no offset means UTC)
    channel              channel slug; rows without one go to `--channel`
    url                  link to the post
    language             language code, e.g. en
    author_handle        the author's handle; the other author_* columns need it
    author_display_name  the author's display name
    author_followers     follower count, a whole number
    author_verified      true/false (also yes/no, 1/0)
    author_tags          semicolon-separated tags, e.g. journalist;customer
    reply_to             external id of the parent post, if a reply
    conversation_id      thread key; rebuilt from reply_to when empty
    direction            inbound (the public, the default) or outbound (the brand's own reply)

The file is UTF-8 and follows RFC 4180 quoting: a field holding a comma, a quote or a line
break is quoted, and a quote inside it is doubled.
"""

from __future__ import annotations

from typing import Any

from firebreak.importers.rows import (
    Progress,
    RowInvalid,
    RowLog,
    check_header,
    check_text,
    csv_records,
    parse_int,
    parse_iso_datetime,
    to_mention,
)

COLUMNS = (
    "external_id",
    "text",
    "created_at",
    "channel",
    "url",
    "language",
    "author_handle",
    "author_display_name",
    "author_followers",
    "author_verified",
    "author_tags",
    "reply_to",
    "conversation_id",
    "direction",
)
REQUIRED = ("external_id", "text")
_PLAIN = ("channel", "url", "language", "reply_to", "conversation_id", "direction")
_TRUE = frozenset({"true", "yes", "1", "t", "y"})
_FALSE = frozenset({"false", "no", "0", "f", "n"})


def read(text: str, log: RowLog, *, max_text_chars: int, progress: Progress | None = None) -> None:
    """Parse every row of `text` into the log's parsed file, rejecting bad rows."""
    header, records = csv_records(text, log, progress)
    check_header(header, required=REQUIRED, allowed=COLUMNS, log=log)
    names = [h.strip() for h in header]
    for line, fields in records:
        row = dict(zip(names, fields, strict=True))
        try:
            item = to_mention(_mention_data(row))
            check_text(item.text, max_text_chars)
        except RowInvalid as bad:
            log.reject(line, bad.message, bad.column)
            continue
        log.parsed.add(item, line)


def _mention_data(row: dict[str, str]) -> dict[str, Any]:
    external_id = row["external_id"].strip()
    if not external_id:
        raise RowInvalid("external_id", "external_id is empty")
    data: dict[str, Any] = {"external_id": external_id, "text": row["text"]}
    created = row.get("created_at", "").strip()
    if created:
        data["created_at"] = parse_iso_datetime(created, "created_at")
    for name in _PLAIN:
        value = row.get(name, "").strip()
        if value:
            data[name] = value
    author = _author(row)
    if author is not None:
        data["author"] = author
    return data


def _author(row: dict[str, str]) -> dict[str, Any] | None:
    handle = row.get("author_handle", "").strip()
    others = {
        name: row.get(name, "").strip()
        for name in ("author_display_name", "author_followers", "author_verified", "author_tags")
    }
    if not handle:
        given = [name for name, value in others.items() if value]
        if given:
            raise RowInvalid("author_handle", f"{given[0]} is given but author_handle is empty")
        return None
    author: dict[str, Any] = {"handle": handle}
    if others["author_display_name"]:
        author["display_name"] = others["author_display_name"]
    if others["author_followers"]:
        author["followers"] = parse_int(others["author_followers"], "author_followers")
    if others["author_verified"]:
        author["verified"] = _parse_bool(others["author_verified"], "author_verified")
    if others["author_tags"]:
        author["tags"] = [t.strip() for t in others["author_tags"].split(";") if t.strip()]
    return author


def _parse_bool(value: str, column: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowInvalid(column, f"{value!r} is not true or false")
