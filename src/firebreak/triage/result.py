"""What triage says about a post: the flag, the category, the signals and the reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FLAG_SEVERITY = {"green": 0, "yellow": 1, "red": 2}


def worse(a: str, b: str) -> str:
    """Return the more severe of two flags."""
    return a if FLAG_SEVERITY[a] >= FLAG_SEVERITY[b] else b


@dataclass(frozen=True, slots=True)
class PostInput:
    """Everything triage looks at for one post."""

    text: str
    channel_kind: str = "x"
    url: str | None = None
    author_handle: str | None = None
    author_followers: int | None = None
    author_tags: tuple[str, ...] = ()
    author_verified: bool = False
    # "outbound" for the brand's own posts: they are scored but never flagged.
    direction: str = "inbound"
    # Negative posts by the same author in the thread-rule window, before this one.
    prior_negative_by_author: int = 0


@dataclass(frozen=True, slots=True)
class Reason:
    """One signal that fired, in words a person can check."""

    kind: str  # phrase | pattern | author | source | thread | model | offensive | dropped
    label: str
    category: str | None = None
    flag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class TriageResult:
    """The verdict on one post."""

    flag: str
    category: str
    group: str
    sentiment: str
    sentiment_score: float
    offensive: bool
    offensive_score: float
    intent: str | None
    confidence: float
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the shape of `firebreak triage` output and the API)."""
        return {
            "flag": self.flag,
            "category": self.category,
            "group": self.group,
            "sentiment": self.sentiment,
            "sentiment_score": round(self.sentiment_score, 4),
            "offensive": self.offensive,
            "offensive_score": round(self.offensive_score, 4),
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "reasons": [r.to_dict() for r in self.reasons],
        }

    def explain(self) -> str:
        """Return the one-line explanation, e.g. "red — legal threat: matched 'my lawyer'; …"."""
        counted = [r.label for r in self.reasons if r.kind != "dropped"]
        return f"{self.flag} — " + ("; ".join(counted) if counted else self.category)
