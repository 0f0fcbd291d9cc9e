"""Read the documented mention schema as JSON Lines: one mention object per line.

The object is exactly the one in `firebreak.mentions.schemas` (webhooks take the same shape);
blank lines are ignored. Lines are decoded straight from bytes with msgspec, the ingest hot path.
"""

from __future__ import annotations

import msgspec

from firebreak.importers.rows import PROGRESS_EVERY, Progress, RowInvalid, RowLog, check_text, validation_column
from firebreak.mentions.schemas import MentionIn

_decoder = msgspec.json.Decoder(MentionIn)


def read(data: bytes, log: RowLog, *, max_text_chars: int, progress: Progress | None = None) -> None:
    """Decode every line of `data` into the log's parsed file, rejecting bad lines."""
    parsed = log.parsed
    decode = _decoder.decode
    items = parsed.items
    lines = parsed.lines
    number = 0
    read_rows = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
        if not raw or raw.isspace():
            continue
        read_rows += 1
        try:
            item = decode(raw)
        except msgspec.ValidationError as exc:
            column, message = validation_column(exc)
            log.reject(number, message, column)
            continue
        except msgspec.DecodeError as exc:
            log.reject(number, _describe_malformed(raw, exc), _column_of(raw, exc))
            continue
        text = item.text
        if len(text) > max_text_chars or not text or text.isspace():
            try:
                check_text(item.text, max_text_chars)
            except RowInvalid as bad:
                log.reject(number, bad.message, bad.column)
                continue
        items.append(item)
        lines.append(number)
    if progress is not None and number % PROGRESS_EVERY:
        progress(number % PROGRESS_EVERY)
    parsed.rows_read += read_rows


def _byte_offset(exc: msgspec.DecodeError) -> int | None:
    message = str(exc)
    if "(byte " not in message:
        return None
    digits = message.rsplit("(byte ", 1)[1].rstrip(")")
    return int(digits) if digits.isdigit() else None


def _column_of(raw: bytes, exc: msgspec.DecodeError) -> str | None:
    offset = _byte_offset(exc)
    if offset is None:
        return None
    # Count characters, not bytes, so the column matches what an editor shows.
    return str(len(raw[:offset].decode("utf-8", "replace")) + 1)


def _describe_malformed(raw: bytes, exc: msgspec.DecodeError) -> str:
    message = str(exc)
    if "truncated" in message:
        return "malformed JSON: the line ends before the object does"
    return "malformed JSON: " + message.removeprefix("JSON is malformed: ").split(" (byte ", 1)[0]
