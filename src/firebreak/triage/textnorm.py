"""Normalise text for phrase matching, so "L4WYER", "lawyerrr" and "Lawyér" all read "lawyer".

Steps: Unicode compatibility form without accents, case folding, emoji spelled out as words,
common leetspeak undone inside words, apostrophes dropped ("don't" → "dont"), every other
non-alphanumeric character turned into a space, and runs of a repeated letter collapsed to one.
Phrases from the playbook go through the same function, so both sides always agree. Regular
expressions run on the "light" form, which keeps repeated letters so that patterns read naturally.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_CHARS = frozenset("0134570@$")
_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_REPEATS = re.compile(r"([a-z])\1+")
_TOKEN = re.compile(r"\S+")


@lru_cache(maxsize=4096)
def _emoji_words(char: str) -> str:
    try:
        return " " + unicodedata.name(char).lower() + " "
    except ValueError:
        return " "


def _undo_leet(token: str) -> str:
    # Only inside words that also have letters: "l4wyer" → "lawyer", but "2024" and "$50" stay.
    if not (_LEET_CHARS.intersection(token) and any(c.isalpha() for c in token)):
        return token
    head = token[0] if token[0] in "@$" and len(token) > 1 and token[1].isalpha() else ""
    if head == "@":
        return token  # an @handle, not leetspeak
    return token.translate(_LEET)


def normalise_light(text: str) -> str:
    """Return `text` folded like `normalise_for_matching` but with repeated letters kept (for patterns)."""
    decomposed = unicodedata.normalize("NFKD", text)
    chars = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if ord(char) > 0x2000 and unicodedata.category(char) == "So":
            chars.append(_emoji_words(char))
        else:
            chars.append(char)
    folded = "".join(chars).casefold()
    folded = _TOKEN.sub(lambda m: _undo_leet(m.group()), folded)
    folded = _APOSTROPHES.sub("", folded)
    return _NON_WORD.sub(" ", folded).strip()


def collapse_repeats(text: str) -> str:
    """Return `text` with every run of one repeated letter reduced to a single letter."""
    return _REPEATS.sub(r"\1", text)


def normalise_for_matching(text: str) -> str:
    """Return the canonical matching form of `text`: lowercase words separated by single spaces."""
    return collapse_repeats(normalise_light(text))
