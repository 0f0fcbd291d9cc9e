"""The file formats `firebreak ingest` reads, how each is recognised, and the one entry point.

    jsonl    the documented mention schema, one JSON object per line (firebreak.importers.jsonl)
    csv      the documented mention schema as CSV columns (firebreak.importers.mention_csv)
    airline  Twitter US Airline Sentiment CSV (firebreak.importers.airline)
    twcs     Customer Support on Twitter CSV, threads rebuilt (firebreak.importers.twcs)

`auto` picks one from the extension and the first line: JSON objects are jsonl, and a CSV header
is matched against each CSV format's telltale columns.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from firebreak.core.errors import ImportRowError
from firebreak.importers import airline, jsonl, mention_csv, twcs
from firebreak.importers.rows import ParsedFile, Progress, RowLog, decode_text


class ImportFormat(StrEnum):
    """A file format `ingest` can read; `auto` detects one."""

    AUTO = "auto"
    JSONL = "jsonl"
    CSV = "csv"
    AIRLINE = "airline"
    TWCS = "twcs"


CsvReader = Callable[..., None]

# Explicit registry: a format name maps to its reader, and an unknown name fails here.
CSV_READERS: dict[ImportFormat, CsvReader] = {
    ImportFormat.CSV: mention_csv.read,
    ImportFormat.AIRLINE: airline.read,
    ImportFormat.TWCS: twcs.read,
}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def detect_format(data: bytes, *, path: str) -> ImportFormat:
    """Return the format of a file from its name and first line, or raise naming what was seen."""
    head = data[:65_536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if Path(path).suffix.lower() in JSONL_SUFFIXES or head[:1] == b"{":
        return ImportFormat.JSONL
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    names = [name.strip() for name in next(csv.reader([first]), [])]
    if all(column in names for column in twcs.SIGNATURE):
        return ImportFormat.TWCS
    if all(column in names for column in airline.SIGNATURE):
        return ImportFormat.AIRLINE
    if "external_id" in names and "text" in names:
        return ImportFormat.CSV
    shown = ", ".join(names[:8]) or "(nothing)"
    hint = " (it looks like data: is the header missing?)" if any(n.isdigit() for n in names) else ""
    raise ImportRowError(
        f"cannot tell the format from the first line ({shown}){hint}; pass --format jsonl, csv, airline or twcs",
        path=path,
        line=1,
    )


def read_mentions(
    data: bytes,
    *,
    path: str,
    fmt: ImportFormat | str = ImportFormat.AUTO,
    max_text_chars: int,
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> ParsedFile:
    """Parse and validate a whole file; raise its first bad row unless `skip_bad_rows`."""
    chosen = ImportFormat(fmt)
    if chosen is ImportFormat.AUTO:
        chosen = detect_format(data, path=path)
    parsed = ParsedFile(path=path, format=chosen.value)
    log = RowLog(path=path, skip_bad_rows=skip_bad_rows, parsed=parsed)
    if chosen is ImportFormat.JSONL:
        jsonl.read(data, log, max_text_chars=max_text_chars, progress=progress)
    else:
        CSV_READERS[chosen](decode_text(data, path), log, max_text_chars=max_text_chars, progress=progress)
    return parsed


def read_file(
    path: Path,
    *,
    fmt: ImportFormat | str = ImportFormat.AUTO,
    max_text_chars: int,
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> ParsedFile:
    """Read `path` and parse it with `read_mentions`."""
    return read_mentions(
        path.read_bytes(),
        path=str(path),
        fmt=fmt,
        max_text_chars=max_text_chars,
        skip_bad_rows=skip_bad_rows,
        progress=progress,
    )
