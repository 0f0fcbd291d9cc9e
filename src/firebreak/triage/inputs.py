"""Read posts to triage from plain text, CSV or JSONL files, keeping input order."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from firebreak.core.errors import ImportRowError
from firebreak.triage.result import PostInput

CONTEXT_FIELDS = (
    "channel_kind",
    "url",
    "author_handle",
    "author_followers",
    "author_tags",
    "author_verified",
    "direction",
)


def detect_format(path: Path, declared: str = "auto") -> str:
    """Return txt, csv or jsonl for `path`, from `declared` or the file extension."""
    if declared != "auto":
        return declared
    suffix = path.suffix.lower()
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}.get(suffix, "txt")


def _post(record: dict[str, Any], *, path: str, line: int) -> PostInput:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ImportRowError("text is missing or empty", path=path, line=line, column="text")
    fields: dict[str, Any] = {"text": text}
    for name in CONTEXT_FIELDS:
        value = record.get(name)
        if value in (None, ""):
            continue
        if name == "author_followers":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ImportRowError(f"not a whole number: {value!r}", path=path, line=line, column=name) from None
        elif name == "author_tags":
            value = tuple(value) if isinstance(value, list) else tuple(t for t in str(value).split(";") if t)
        elif name == "author_verified":
            value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        fields[name] = value
    return PostInput(**fields)


def read_posts(path: Path, fmt: str = "auto") -> Iterator[tuple[int, PostInput, dict[str, Any]]]:
    """Yield (line, post, original record) for every post in the file, in order."""
    kind = detect_format(path, fmt)
    name = str(path)
    with path.open(encoding="utf-8", newline="" if kind == "csv" else None) as handle:
        if kind == "txt":
            for line_no, line in enumerate(handle, start=1):
                text = line.rstrip("\n")
                if text.strip():
                    yield line_no, PostInput(text=text), {"text": text}
        elif kind == "csv":
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "text" not in reader.fieldnames:
                raise ImportRowError(f"CSV needs a 'text' column; header is {reader.fieldnames}", path=name, line=1)
            for record in reader:
                yield reader.line_num, _post(record, path=name, line=reader.line_num), dict(record)
        elif kind == "jsonl":
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ImportRowError(f"malformed JSON: {exc}", path=name, line=line_no) from None
                if not isinstance(record, dict):
                    raise ImportRowError("each line must be a JSON object", path=name, line=line_no)
                yield line_no, _post(record, path=name, line=line_no), record
        else:
            raise ImportRowError(f"unknown format {fmt!r}; use txt, csv or jsonl", path=name, line=0)
