"""Read the Twitter US Airline Sentiment CSV (Kaggle / CrowdFlower) as mentions.

Needed columns: tweet_id, text, tweet_created (e.g. `2015-02-24 11:35:52 -0800`). Every other
column (airline, airline_sentiment, negativereason, and the rest of the original 15 if present)
is kept in `raw`, empty cells as null, so triage training can read the labels later. The file
names no author handle, so the mentions have no author.
"""

from __future__ import annotations

from datetime import datetime

from firebreak.importers.rows import (
    Progress,
    RowInvalid,
    RowLog,
    check_header,
    check_text,
    csv_records,
    parse_int,
)
from firebreak.mentions.schemas import MentionIn

REQUIRED = ("tweet_id", "text", "tweet_created")
# What auto-detection looks for beside the required columns.
SIGNATURE = ("tweet_id", "airline_sentiment", "tweet_created")


def read(text: str, log: RowLog, *, max_text_chars: int, progress: Progress | None = None) -> None:
    """Parse every row of `text` into the log's parsed file, rejecting bad rows."""
    header, records = csv_records(text, log, progress)
    check_header(header, required=REQUIRED, allowed=None, log=log)
    names = [h.strip() for h in header]
    extra = [n for n in names if n not in REQUIRED]
    for line, fields in records:
        row = dict(zip(names, fields, strict=True))
        try:
            tweet_id = parse_int(row["tweet_id"], "tweet_id")
            item = MentionIn(
                external_id=str(tweet_id),
                text=row["text"],
                created_at=parse_created(row["tweet_created"], "tweet_created"),
                raw={name: (row[name] or None) for name in extra},
            )
            check_text(item.text, max_text_chars)
        except RowInvalid as bad:
            log.reject(line, bad.message, bad.column)
            continue
        log.parsed.add(item, line)


def parse_created(value: str, column: str) -> datetime:
    """Parse `2015-02-24 11:35:52 -0800` (an ISO 8601 string is accepted too)."""
    text = value.strip()
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RowInvalid(column, f"{value!r} is not a date like 2015-02-24 11:35:52 -0800") from None
    return parsed
