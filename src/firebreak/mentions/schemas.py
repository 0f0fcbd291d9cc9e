"""The documented mention schema, decoded with msgspec because bulk ingest is a hot path.

One mention, as JSON (JSONL files and webhooks use the same shape):

    {
      "external_id": "1861234567",            # required; unique per channel (string or integer)
      "text": "my order never arrived",        # required; 1..FIREBREAK_MAX_TEXT_CHARS characters
      "created_at": "2026-11-20T09:15:00Z",   # optional ISO 8601; defaults to the time received
      "channel": "x-main",                    # channel slug (files); webhooks use the signing channel
      "url": "https://x.com/ann/status/1861234567",
      "language": "en",                       # optional; detected by the pipeline when missing
      "author": {"handle": "ann", "display_name": "Ann", "followers": 120400,
                 "verified": false, "tags": ["journalist"]},
      "reply_to": "1861230000",               # external id of the parent post, if a reply
      "conversation_id": "1861230000",        # optional thread key; rebuilt from reply_to otherwise
      "direction": "inbound",                 # inbound (the public) or outbound (the brand's own reply)
      "raw": {...}                            # optional original payload, stored as is
    }
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from firebreak.core.errors import InvalidInput

Handle = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | int


class AuthorIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    handle: Handle
    display_name: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    followers: Annotated[int, msgspec.Meta(ge=0)] | None = None
    verified: bool = False
    tags: list[Annotated[str, msgspec.Meta(min_length=1, max_length=40)]] = []


class MentionIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    external_id: ExternalId
    text: str
    created_at: datetime | None = None
    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=16)] | None = None
    author: AuthorIn | None = None
    reply_to: ExternalId | None = None
    conversation_id: ExternalId | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    raw: dict[str, Any] | None = None


_single = msgspec.json.Decoder(MentionIn)
_batch = msgspec.json.Decoder(list[MentionIn])
_any = msgspec.json.Decoder()


def decode_mentions(body: bytes) -> list[MentionIn]:
    """Decode one mention object, a list, or {"mentions": [...]}; errors name the JSON path."""
    stripped = body.lstrip()
    if not stripped:
        raise InvalidInput("request body is empty; send a mention object or a list of them", field="body")
    try:
        if stripped[:1] == b"[":
            return _batch.decode(body)
        if stripped[:1] == b"{" and b'"mentions"' in stripped[:64]:
            wrapper = _any.decode(body)
            if isinstance(wrapper, dict) and set(wrapper) == {"mentions"}:
                return msgspec.convert(wrapper["mentions"], list[MentionIn], strict=True)
        return [_single.decode(body)]
    except msgspec.ValidationError as exc:
        raise InvalidInput(_describe(exc), field=_path_of(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}", field="body") from None


def convert_mention(obj: Any) -> MentionIn:
    """Validate an already-parsed object (one JSONL line) as a mention."""
    try:
        return msgspec.convert(obj, MentionIn, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_describe(exc), field=_path_of(exc)) from None


def _path_of(exc: msgspec.ValidationError) -> str | None:
    message = str(exc)
    return message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else None


def _describe(exc: msgspec.ValidationError) -> str:
    message = str(exc)
    return message.split(" - at `", 1)[0] if " - at `" in message else message


def validate_limits(items: list[MentionIn], *, max_text_chars: int, prefix: str = "$") -> None:
    """Reject empty or oversized texts, naming the offending item."""
    for index, item in enumerate(items):
        where = f"{prefix}[{index}].text" if prefix else "text"
        if not item.text.strip():
            raise InvalidInput("text is empty", field=where)
        if len(item.text) > max_text_chars:
            raise InvalidInput(f"text has {len(item.text)} characters; the limit is {max_text_chars}", field=where)
