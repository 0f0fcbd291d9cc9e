"""Phrase and pattern rules of the risk guide, matched in one pass with Aho-Corasick.

Every category's phrases (and exclusions) are normalised and loaded into one automaton, so matching a
post costs one scan whatever the number of phrases. A hit inside an exclusion ("killer deal") is
dropped; a hit of a negatable category within a few words after a negation ("not going to sue") is
dropped too. Dropped hits are still reported, so the result explains why a scary word did not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick

from firebreak.playbook.schema import Playbook
from firebreak.triage.textnorm import collapse_repeats, normalise_for_matching, normalise_light

NEGATIONS = frozenset({"not", "never", "no", "dont", "wont", "wouldnt", "isnt", "aint", "nor"})
NEGATION_WINDOW = 3  # words between the negation and the hit


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One phrase or pattern of a category found in a post."""

    category: str
    kind: str  # "phrase" | "pattern"
    matched: str  # the phrase as written in the playbook, or the matched text for patterns
    start: int
    end: int
    dropped: str | None = None  # why it does not count: "negated by 'not'", "inside 'killer deal'"

    @property
    def counts(self) -> bool:
        return self.dropped is None


class RuleSet:
    """The compiled phrase/pattern rules of one playbook."""

    def __init__(self, playbook: Playbook) -> None:
        self._automaton = ahocorasick.Automaton()
        entries: dict[str, list[tuple[str, str, str]]] = {}
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        self._negatable = {c.id for c in playbook.risk.categories if c.negatable}
        for spec in playbook.risk.categories:
            for phrase in spec.phrases:
                key = normalise_for_matching(phrase)
                if key:
                    entries.setdefault(key, []).append(("hit", spec.id, phrase))
            for phrase in spec.exclusions:
                key = normalise_for_matching(phrase)
                if key:
                    entries.setdefault(key, []).append(("exclude", spec.id, phrase))
            for pattern in spec.patterns:
                self._patterns.append((spec.id, re.compile(pattern)))
        for key, values in entries.items():
            self._automaton.add_word(key, (len(key), values))
        self._empty = not entries
        if not self._empty:
            self._automaton.make_automaton()

    def match(self, text: str) -> list[RuleHit]:
        """Return every hit in `text` (counting and dropped), in order of position."""
        light = normalise_light(text)
        norm = collapse_repeats(light)
        hits: list[RuleHit] = []
        exclusions: list[tuple[str, int, int, str]] = []
        if not self._empty and norm:
            for end_index, (length, values) in self._automaton.iter(norm):
                start = end_index - length + 1
                end = end_index + 1
                # Whole words only: "sue" must not fire inside "issue" or "pursue".
                if (start > 0 and norm[start - 1] != " ") or (end < len(norm) and norm[end] != " "):
                    continue
                for action, category, phrase in values:
                    if action == "hit":
                        hits.append(RuleHit(category, "phrase", phrase, start, end))
                    else:
                        exclusions.append((category, start, end, phrase))
        for category, pattern in self._patterns:
            for found in pattern.finditer(light):
                # Report pattern hits in the collapsed text's coordinates, like phrase hits.
                start = len(collapse_repeats(light[: found.start()]))
                end = start + len(collapse_repeats(found.group(0)))
                hits.append(RuleHit(category, "pattern", found.group(0), start, end))
        if not hits:
            return hits
        result = []
        for hit in hits:
            reason = self._excluded(hit, exclusions) or self._negated(hit, norm)
            result.append(hit if reason is None else _dropped(hit, reason))
        result.sort(key=lambda h: (h.start, h.category))
        return result

    @staticmethod
    def _excluded(hit: RuleHit, exclusions: list[tuple[str, int, int, str]]) -> str | None:
        for category, start, end, phrase in exclusions:
            if category == hit.category and start < hit.end and hit.start < end:
                return f"inside '{phrase}'"
        return None

    def _negated(self, hit: RuleHit, norm: str) -> str | None:
        if hit.category not in self._negatable:
            return None
        before = norm[: hit.start].split()[-NEGATION_WINDOW:]
        for word in reversed(before):
            if word in NEGATIONS:
                return f"negated by '{word}'"
        return None


def _dropped(hit: RuleHit, reason: str) -> RuleHit:
    return RuleHit(hit.category, hit.kind, hit.matched, hit.start, hit.end, dropped=reason)
