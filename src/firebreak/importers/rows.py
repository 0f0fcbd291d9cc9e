"""What every file reader shares: the parsed result, the bad-row log and a line-aware CSV reader.

Readers validate every row before anything is written, so a bad file stores nothing unless the
caller asked to skip bad rows. Every error names the file, the line it starts on and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from firebreak.core.errors import ImportRowError
from firebreak.mentions.schemas import MentionIn

# Progress callbacks receive how many more source lines were read.
Progress = Callable[[int], None]
PROGRESS_EVERY = 2_000


@dataclass(slots=True)
class ParsedFile:
    """Mentions read from a file, each with its source line, and the rows that were skipped."""

    path: str
    format: str
    items: list[MentionIn] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rows_read: int = 0
    skipped: list[ImportRowError] = field(default_factory=list)

    def add(self, item: MentionIn, line: int) -> None:
        """Keep a parsed mention with the line it came from."""
        self.items.append(item)
        self.lines.append(line)

    def drop(self, indexes: set[int]) -> None:
        """Remove the items at these positions (rows rejected after parsing)."""
        if indexes:
            self.items = [m for i, m in enumerate(self.items) if i not in indexes]
            self.lines = [n for i, n in enumerate(self.lines) if i not in indexes]


@dataclass(slots=True)
class RowLog:
    """Collects bad rows when skipping them, else raises the first one."""

    path: str
    skip_bad_rows: bool
    parsed: ParsedFile

    def reject(self, line: int, message: str, column: str | None = None) -> None:
        """Record a bad row, or raise it when bad rows are not skipped."""
        error = ImportRowError(message, path=self.path, line=line, column=column)
        if not self.skip_bad_rows:
            raise error
        self.parsed.skipped.append(error)

    def fatal(self, line: int, message: str, column: str | None = None) -> ImportRowError:
        """Return an error that stops the whole file (a bad header, undecodable bytes)."""
        return ImportRowError(message, path=self.path, line=line, column=column)


class RowInvalid(Exception):
    """Raised inside a row converter; the reader turns it into an ImportRowError for that line."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def check_text(text: str, max_text_chars: int) -> None:
    """Reject empty or oversized texts."""
    if len(text) > max_text_chars:
        raise RowInvalid("text", f"text has {len(text):,} characters; the limit is {max_text_chars:,}")
    if not text or text.isspace():
        raise RowInvalid("text", "text is empty")


def validation_column(exc: msgspec.ValidationError) -> tuple[str | None, str]:
    """Split a msgspec validation error into (field path without `$.`, message)."""
    message = str(exc)
    path: str | None = None
    if " - at `" in message:
        message, _, rest = message.partition(" - at `")
        path = rest.rstrip("`").removeprefix("$").removeprefix(".") or None
    # Missing and unknown fields name the field in the message, not in the path.
    for marker in ("missing required field `", "unknown field `"):
        if marker in message:
            name = message.split(marker, 1)[1].split("`", 1)[0]
            path = f"{path}.{name}" if path else name
    return path, message


def to_mention(data: dict[str, Any]) -> MentionIn:
    """Validate a mention built from a CSV row; errors name the CSV column."""
    try:
        return msgspec.convert(data, MentionIn)
    except msgspec.ValidationError as exc:
        path, message = validation_column(exc)
        raise RowInvalid(_csv_column(path), message) from None


def _csv_column(path: str | None) -> str | None:
    if path is None:
        return None
    # `author.tags[0]` is the CSV column author_tags.
    return path.split("[", 1)[0].replace(".", "_")


def parse_int(value: str, column: str, *, pandas_float: bool = False) -> int:
    """Return a non-negative integer; `pandas_float` also accepts `12.0` (a pandas round trip)."""
    text = value.strip()
    if pandas_float and text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit() or not text.isascii():
        raise RowInvalid(column, f"{value!r} is not a whole number")
    return int(text)


def parse_iso_datetime(value: str, column: str) -> datetime:
    """Return an ISO 8601 timestamp as a datetime (naive means UTC)."""
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise RowInvalid(column, f"{value!r} is not an ISO 8601 date and time") from None


def decode_text(data: bytes, path: str) -> str:
    """Decode UTF-8 (a BOM is dropped); undecodable bytes stop the file with their line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ImportRowError(
            f"byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8",
            path=path,
            line=line,
            column=str(column),
        ) from None


def split_lines(text: str) -> list[str]:
    """Split on LF only, keeping the ends, so a stray CR inside a quoted field stays put."""
    lines = text.split("\n")
    last = lines.pop()
    out = [line + "\n" for line in lines]
    if last:
        out.append(last)
    return out


class _Feed:
    """An iterator over lines whose position the CSV reader cannot hide from us."""

    def __init__(self, lines: list[str], start: int, progress: Progress | None) -> None:
        self.lines = lines
        self.pos = start
        self.progress = progress
        self.reported = start

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        line = self.lines[self.pos]
        self.pos += 1
        if self.progress is not None and self.pos - self.reported >= PROGRESS_EVERY:
            self.progress(self.pos - self.reported)
            self.reported = self.pos
        return line

    def finish(self) -> None:
        if self.progress is not None and self.pos > self.reported:
            self.progress(self.pos - self.reported)
            self.reported = self.pos


def csv_records(
    text: str, log: RowLog, progress: Progress | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Return the header and an iterator of (first line, fields) for every well-formed data record.

    Malformed records (a stray or unterminated quote, a wrong field count) go to the log. When
    skipping, reading resumes on the line after the bad record began, so one unterminated quote
    costs one row instead of the rest of the file.
    """
    lines = split_lines(text)
    feed = _Feed(lines, 0, progress)
    reader = csv.reader(feed, strict=True)
    header: list[str] = []
    try:
        header = next(reader)
    except StopIteration:
        raise log.fatal(1, "the file is empty; expected a header line") from None
    except csv.Error as exc:
        raise log.fatal(1, f"the header line is not valid CSV: {exc}") from None
    width = len(header)

    def records() -> Iterator[tuple[int, list[str]]]:
        nonlocal feed, reader
        while True:
            start = feed.pos
            try:
                fields = next(reader)
            except StopIteration:
                feed.finish()
                return
            except csv.Error as exc:
                message = str(exc)
                if "unexpected end of data" in message or "field larger than field limit" in message:
                    message = "unterminated quote: the quoted field opened here never closes"
                else:
                    message = f"malformed CSV ({message}); a quote inside a field must be doubled"
                log.parsed.rows_read += 1
                log.reject(start + 1, message)
                feed, reader = _restart(lines, start + 1, feed)
                continue
            if not fields:
                continue  # a blank line
            log.parsed.rows_read += 1
            if len(fields) != width:
                spanned = feed.pos - start
                message = f"the row has {len(fields)} fields; the header has {width}"
                if spanned > 1:
                    message += f" (it runs over {spanned} lines: an unterminated quote?)"
                log.reject(start + 1, message)
                if spanned > 1:
                    feed, reader = _restart(lines, start + 1, feed)
                continue
            yield start + 1, fields

    return header, records()


def _restart(lines: list[str], start: int, old: _Feed) -> tuple[_Feed, Any]:
    # A csv reader keeps state after an error; a fresh one on a fresh feed is the safe resume.
    feed = _Feed(lines, start, old.progress)
    feed.reported = old.reported
    return feed, csv.reader(feed, strict=True)


def check_header(header: list[str], *, required: tuple[str, ...], allowed: tuple[str, ...] | None, log: RowLog) -> None:
    """Stop the file unless the header names every required column (and, if given, only allowed ones)."""
    names = [h.strip() for h in header]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise log.fatal(1, f"the header repeats column(s) {', '.join(duplicated)}")
    missing = [c for c in required if c not in names]
    if missing:
        looks_like_data = any(n.replace(".", "").isdigit() for n in names)
        hint = " (the first line looks like data: is the header missing?)" if looks_like_data else ""
        raise log.fatal(
            1,
            f"the header lacks column(s) {', '.join(missing)}{hint}; it has: {', '.join(names) or '(nothing)'}",
        )
    if allowed is not None:
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise log.fatal(
                1,
                f"unknown column(s) {', '.join(unknown)}; the columns are: {', '.join(allowed)}",
                column=unknown[0],
            )
