"""First stages: clean the text for matching and search, then detect its language."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from firebreak.pipeline.base import Stage, WorkItem

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@(\w{1,50})")
_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,100})")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6})\b")


def normalise_text(text: str) -> str:
    """Return `text` with HTML entities decoded, Unicode in NFKC, no zero-width marks, single spaces."""
    text = html.unescape(text) if "&" in text else text
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    return _SPACES.sub(" ", text).strip()


def extract_entities(text: str) -> dict[str, Any]:
    """Return the URLs, @handles, #hashtags and $cashtags a post contains."""
    entities: dict[str, Any] = {}
    for key, pattern in (("urls", _URL), ("handles", _HANDLE), ("hashtags", _HASHTAG), ("cashtags", _CASHTAG)):
        found = pattern.findall(text)
        if found:
            entities[key] = list(dict.fromkeys(found))
    return entities


class NormaliseStage(Stage):
    """Store the normalised text and the entities of each mention."""

    name = "normalise"

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        normalized = normalise_text(item.mention.text)
        item.set(normalized_text=normalized, entities=extract_entities(normalized) or None)


# The languages brands most often hear from; a closed set makes short posts far less noisy.
LANGUAGES = [
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "sv",
    "da",
    "no",
    "fi",
    "pl",
    "cs",
    "sk",
    "hu",
    "ro",
    "bg",
    "el",
    "ru",
    "uk",
    "tr",
    "ar",
    "he",
    "fa",
    "hi",
    "bn",
    "ur",
    "id",
    "ms",
    "vi",
    "th",
    "zh",
    "ja",
    "ko",
    "tl",
    "ca",
    "eu",
    "gl",
    "hr",
    "sr",
    "sl",
    "et",
    "lv",
    "lt",
    "sw",
    "af",
]
MIN_CONFIDENCE = 0.40
UNDETERMINED = "und"


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(LANGUAGES)
    return identifier


def detect_language(text: str) -> tuple[str, float]:
    """Return (ISO 639-1 code or 'und', confidence) for a post, ignoring URLs and handles."""
    content = _HANDLE.sub(" ", _URL.sub(" ", text))
    if sum(ch.isalpha() for ch in content) < 3:
        return UNDETERMINED, 0.0
    language, confidence = _identifier().classify(content)
    confidence = float(confidence)
    return (language if confidence >= MIN_CONFIDENCE else UNDETERMINED), round(confidence, 4)


class LanguageStage(Stage):
    """Detect the language where the source did not state it."""

    name = "language"

    def warm_up(self) -> None:
        """Load the language model now rather than in the first batch (it takes a second)."""
        _identifier()

    def prepare_one(self, session: Session, item: WorkItem) -> None:
        mention = item.mention
        stated = mention.language and mention.language_confidence in (None, 1.0)
        if stated:
            item.set(language_confidence=1.0)  # the source said so; trust it over a guess
            return
        language, confidence = detect_language(mention.normalized_text or mention.text)
        item.set(language=language, language_confidence=confidence)
