"""Read the Customer Support on Twitter CSV (Kaggle / Thought Vector) as threaded mentions.

Columns: tweet_id, author_id, inbound, created_at (`Tue Oct 31 22:10:47 +0000 2017`), text,
response_tweet_id (none, one or several comma-separated ids), in_response_to_tweet_id.

Threads are rebuilt from the whole file: a conversation is a connected component of the reply
links in either direction, keyed by its root tweet (the one with no parent among the file's rows,
the earliest if several). Customer tweets (inbound=True) are inbound mentions; brand tweets are
outbound replies whose author, the brand handle, is tagged "brand".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from firebreak.importers.rows import (
    Progress,
    RowInvalid,
    RowLog,
    check_header,
    check_text,
    csv_records,
    parse_int,
)
from firebreak.mentions.schemas import AuthorIn, MentionIn

COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
)
SIGNATURE = ("tweet_id", "author_id", "inbound", "in_response_to_tweet_id")
BRAND_TAG = "brand"
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}


@dataclass(slots=True)
class _Tweet:
    line: int
    tweet_id: int
    author: str
    inbound: bool
    created_at: datetime
    text: str
    responses: list[int]
    parent: int | None
    raw: dict[str, str]


def read(text: str, log: RowLog, *, max_text_chars: int, progress: Progress | None = None) -> None:
    """Parse every row of `text`, rebuild the threads, and add the mentions to the log's parsed file."""
    header, records = csv_records(text, log, progress)
    check_header(header, required=COLUMNS, allowed=None, log=log)
    names = [h.strip() for h in header]
    tweets: list[_Tweet] = []
    for line, fields in records:
        row = dict(zip(names, fields, strict=True))
        try:
            tweet = _tweet(line, row)
            check_text(tweet.text, max_text_chars)
        except RowInvalid as bad:
            log.reject(line, bad.message, bad.column)
            continue
        tweets.append(tweet)
    roots = conversation_roots(tweets)
    for tweet in tweets:
        author = AuthorIn(handle=tweet.author, tags=[] if tweet.inbound else [BRAND_TAG])
        item = MentionIn(
            external_id=str(tweet.tweet_id),
            text=tweet.text,
            created_at=tweet.created_at,
            author=author,
            reply_to=None if tweet.parent is None else str(tweet.parent),
            conversation_id=str(roots[tweet.tweet_id]),
            direction="inbound" if tweet.inbound else "outbound",
            raw=tweet.raw,
        )
        log.parsed.add(item, tweet.line)


def _tweet(line: int, row: dict[str, str]) -> _Tweet:
    tweet_id = parse_int(row["tweet_id"], "tweet_id")
    author = row["author_id"].strip()
    if not author:
        raise RowInvalid("author_id", "author_id is empty")
    if len(author) > 200:
        raise RowInvalid("author_id", "author_id is longer than 200 characters")
    inbound_text = row["inbound"].strip().lower()
    if inbound_text not in ("true", "false"):
        raise RowInvalid("inbound", f"{row['inbound']!r} is not True or False")
    responses_text = row["response_tweet_id"].strip()
    responses = (
        [parse_int(part, "response_tweet_id", pandas_float=True) for part in responses_text.split(",")]
        if responses_text
        else []
    )
    parent_text = row["in_response_to_tweet_id"].strip()
    parent = parse_int(parent_text, "in_response_to_tweet_id", pandas_float=True) if parent_text else None
    return _Tweet(
        line=line,
        tweet_id=tweet_id,
        author=author,
        inbound=inbound_text == "true",
        created_at=parse_created(row["created_at"], "created_at"),
        text=row["text"],
        responses=responses,
        parent=parent,
        raw={
            "author_id": row["author_id"],
            "inbound": row["inbound"],
            "response_tweet_id": row["response_tweet_id"],
            "in_response_to_tweet_id": row["in_response_to_tweet_id"],
        },
    )


def parse_created(value: str, column: str) -> datetime:
    """Parse Twitter's `Tue Oct 31 22:10:47 +0000 2017` without depending on the locale."""
    parts = value.split()
    try:
        if len(parts) != 6 or parts[1] not in _MONTHS:
            raise ValueError
        hour, minute, second = (int(p) for p in parts[3].split(":"))
        offset = parts[4]
        if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
            raise ValueError
        stamp = datetime(int(parts[5]), _MONTHS[parts[1]], int(parts[2]), hour, minute, second)
        sign = 1 if offset[0] == "+" else -1
        minutes = sign * (int(offset[1:3]) * 60 + int(offset[3:5]))
        return stamp.replace(tzinfo=timezone(timedelta(minutes=minutes))).astimezone(UTC)
    except ValueError:
        raise RowInvalid(column, f"{value!r} is not a date like Tue Oct 31 22:10:47 +0000 2017") from None


def conversation_roots(tweets: list[_Tweet]) -> dict[int, int]:
    """Map every tweet id to its conversation's root tweet id (connected components of reply links)."""
    parent_of: dict[int, int] = {}

    def find(node: int) -> int:
        root = node
        while parent_of.get(root, root) != root:
            root = parent_of[root]
        # Path compression keeps long threads cheap.
        while node != root:
            parent_of[node], node = root, parent_of[node]
        return root

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent_of[max(ra, rb)] = min(ra, rb)

    for tweet in tweets:
        parent_of.setdefault(tweet.tweet_id, tweet.tweet_id)
        if tweet.parent is not None:
            union(tweet.tweet_id, tweet.parent)
        for response in tweet.responses:
            union(tweet.tweet_id, response)

    present = {t.tweet_id for t in tweets}
    best: dict[int, tuple[bool, datetime, int]] = {}
    for tweet in tweets:
        component = find(tweet.tweet_id)
        # Prefer tweets with no parent in the file, then the earliest, then the smallest id.
        key = (tweet.parent is not None and tweet.parent in present, tweet.created_at, tweet.tweet_id)
        if component not in best or key < best[component]:
            best[component] = key
    return {t.tweet_id: best[find(t.tweet_id)][2] for t in tweets}
