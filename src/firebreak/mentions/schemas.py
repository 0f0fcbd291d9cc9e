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

import re
from collections.abc import Callable
from dataclasses import dataclass
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


class MentionBatch(msgspec.Struct, forbid_unknown_fields=True):
    """The `{"mentions": [...]}` wrapper some senders prefer to a bare list."""

    mentions: list[MentionIn]


_single = msgspec.json.Decoder(MentionIn)
_batch = msgspec.json.Decoder(list[MentionIn])
_wrapper = msgspec.json.Decoder(MentionBatch)


@dataclass(frozen=True, slots=True)
class DecodedMentions:
    """Mentions decoded from one request body, and the JSON path of each item in that body."""

    items: list[MentionIn]
    root: str | None  # None: the body was one object; else the path of the array holding the items

    def path(self, index: int) -> str:
        """Return the JSON path of item `index` as the sender wrote it."""
        return "$" if self.root is None else f"{self.root}[{index}]"


def decode_mentions(body: bytes) -> list[MentionIn]:
    """Decode one mention object, a list, or {"mentions": [...]}; errors name the JSON path."""
    return decode_body(body).items


def decode_body(body: bytes) -> DecodedMentions:
    """Decode a JSON body (object, list or wrapper), keeping where each item sat for error messages."""
    stripped = body.lstrip()
    if not stripped:
        raise InvalidInput("request body is empty; send a mention object or a list of them", field="body")
    try:
        if stripped[:1] == b"[":
            return DecodedMentions(_batch.decode(body), "$")
        try:
            return DecodedMentions([_single.decode(body)], None)
        except msgspec.ValidationError as exc:
            # A mention has no `mentions` field, so meeting one at the top level means the wrapper.
            if str(exc) != "Object contains unknown field `mentions`":
                raise
        return DecodedMentions(_wrapper.decode(body).mentions, "$.mentions")
    except msgspec.ValidationError as exc:
        raise InvalidInput(_describe(exc), field=_path_of(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}", field="body") from None


def decode_ndjson(body: bytes) -> DecodedMentions:
    """Decode newline-delimited JSON, one mention per non-blank line; errors name the line."""
    items: list[MentionIn] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(_single.decode(line))
        except msgspec.ValidationError as exc:
            where = _path_of(exc) or "$"
            raise InvalidInput(f"line {number}: {_describe(exc)}", field=f"$[{len(items)}]{where[1:]}") from None
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"line {number}: malformed JSON: {exc}", field="body") from None
    if not items:
        raise InvalidInput("request body is empty; send one mention object per line", field="body")
    return DecodedMentions(items, "$")


def body_json_schema(ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the JSON schema of a webhook body (one object, a list or the wrapper) and its definitions."""
    shapes, definitions = msgspec.json.schema_components(
        (MentionIn, list[MentionIn], MentionBatch), ref_template=ref_template
    )
    return {"oneOf": list(shapes)}, definitions


def convert_mention(obj: Any) -> MentionIn:
    """Validate an already-parsed object (one JSONL line) as a mention."""
    try:
        return msgspec.convert(obj, MentionIn, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_describe(exc), field=_path_of(exc)) from None


# msgspec names a missing or unknown field in the message and puts the path of its *object* after
# " - at `...`" (or nothing at the top level); callers want the path of the field itself.
_NAMED_FIELD = re.compile(r"^Object (?:missing required field|contains unknown field) `([^`]+)`")


def _path_of(exc: msgspec.ValidationError) -> str | None:
    message = str(exc)
    path = message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else None
    named = _NAMED_FIELD.match(message)
    if named:
        return f"{path or '$'}.{named.group(1)}"
    return path or "$"


def _describe(exc: msgspec.ValidationError) -> str:
    message = str(exc)
    return message.split(" - at `", 1)[0] if " - at `" in message else message


def validate_limits(items: list[MentionIn], *, max_text_chars: int, path: Callable[[int], str] | None = None) -> None:
    """Reject empty or oversized texts, naming the offending item (`path(index)`, default `$[index]`)."""
    for index, item in enumerate(items):
        where = f"{path(index) if path else f'$[{index}]'}.text"
        if not item.text.strip():
            raise InvalidInput("text is empty", field=where)
        if len(item.text) > max_text_chars:
            raise InvalidInput(f"text has {len(item.text)} characters; the limit is {max_text_chars}", field=where)
        _reject_nul(item, path(index) if path else f"$[{index}]")


def _reject_nul(item: MentionIn, where: str) -> None:
    # PostgreSQL cannot store NUL in text. Text and raw are cleaned on ingest (a stray NUL there
    # carries no meaning), but in an id, handle or URL it would change what the value names.
    fields: list[tuple[str, Any]] = [
        ("external_id", item.external_id),
        ("channel", item.channel),
        ("url", item.url),
        ("language", item.language),
        ("reply_to", item.reply_to),
        ("conversation_id", item.conversation_id),
    ]
    if item.author is not None:
        fields += [("author.handle", item.author.handle), ("author.display_name", item.author.display_name)]
        fields += [(f"author.tags[{i}]", tag) for i, tag in enumerate(item.author.tags)]
    for name, value in fields:
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"{name} contains a NUL character (\\u0000)", field=f"{where}.{name}")
