"""Combine phrase rules, text models and author, source and thread signals into one verdict.

Precedence is explicit: the most severe flag among all signals wins (red > yellow > green), so a model
can raise a flag but never lower a red that a rule found. Among signals of the winning flag, a rule
beats an author/source signal, which beats a model; then the higher confidence wins. Every signal
that fired is kept as a reason, including rule hits that were dropped (negated, inside an idiom).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from firebreak.playbook.loader import LoadedPlaybook
from firebreak.triage.result import FLAG_SEVERITY, PostInput, Reason, TriageResult, worse
from firebreak.triage.rules import RuleHit, RuleSet

_QUESTION_START = re.compile(
    r"^\s*(how|what|when|where|why|who|which|can|could|is|are|do|does|did|will|would|should|any)\b", re.IGNORECASE
)
# Source kinds rank between rules and models when flags tie.
_RANK = {"rule": 3, "author": 2, "source": 2, "thread": 2, "model": 1}


class TextModelsLike(Protocol):
    """What triage needs from the trained models (see firebreak.triage.ml.predict.TextModels)."""

    version: str

    def sentiment(self, texts: Sequence[str]) -> list[tuple[str, float]]: ...

    def offensive(self, texts: Sequence[str]) -> list[float]: ...

    def category(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]: ...


@dataclass(slots=True)
class _Candidate:
    category: str
    flag: str
    source: str
    confidence: float


class Triager:
    """Triage posts with one playbook and one set of models; cheap to call in batches."""

    def __init__(self, playbook: LoadedPlaybook, models: TextModelsLike) -> None:
        self.loaded = playbook
        self.guide = playbook.playbook.risk
        self.models = models
        self.rules = RuleSet(playbook.playbook)
        self._specs = {spec.id: spec for spec in self.guide.categories}

    @property
    def playbook_version(self) -> str:
        return self.loaded.version

    @property
    def model_version(self) -> str:
        return self.models.version

    def triage(self, posts: Sequence[PostInput]) -> list[TriageResult]:
        """Return one result per post, in order."""
        if not posts:
            return []
        texts = [post.text for post in posts]
        sentiments = self.models.sentiment(texts)
        offensive = self.models.offensive(texts)
        categories = self.models.category(texts)
        return [self._one(post, sentiments[i], offensive[i], categories[i]) for i, post in enumerate(posts)]

    def triage_text(self, text: str, **context: object) -> TriageResult:
        """Triage a single text (convenience for checks and the CLI)."""
        return self.triage([PostInput(text=text, **context)])[0]  # type: ignore[arg-type]

    # ------------------------------------------------------------------------------------------

    def _label(self, category: str) -> str:
        spec = self._specs.get(category)
        return spec.label if spec else category.replace("_", " ")

    def _flag(self, category: str) -> str | None:
        spec = self._specs.get(category)
        return spec.flag if spec else None

    def _one(
        self,
        post: PostInput,
        sentiment: tuple[str, float],
        offensive_score: float,
        top_categories: list[tuple[str, float]],
    ) -> TriageResult:
        guide = self.guide
        reasons: list[Reason] = []
        candidates: list[_Candidate] = []
        sentiment_label, sentiment_score = sentiment
        if post.direction == "outbound":
            # The brand's own reply: its tone is worth keeping (for reports and reply checks), a risk flag is not.
            return TriageResult(
                flag="green",
                category=guide.default_category,
                group=self._specs[guide.default_category].group if guide.default_category in self._specs else "general",
                sentiment=sentiment_label,
                sentiment_score=sentiment_score,
                offensive=offensive_score >= guide.models.offensive_threshold,
                offensive_score=offensive_score,
                intent=None,
                confidence=1.0,
                reasons=(Reason("source", "the brand's own post: not flagged"),),
            )

        # 1. Phrase and pattern rules.
        by_category: dict[str, list[RuleHit]] = {}
        for hit in self.rules.match(post.text):
            if not hit.counts:
                reasons.append(
                    Reason("dropped", f"{self._label(hit.category)}: '{hit.matched}' {hit.dropped}", hit.category)
                )
                continue
            by_category.setdefault(hit.category, []).append(hit)
        for category, hits in by_category.items():
            flag = self._flag(category)
            if flag is None:
                continue
            seen: list[str] = []
            for hit in hits:
                if hit.matched not in seen:
                    seen.append(hit.matched)
            verb = "matched" if hits[0].kind == "phrase" else "matched pattern"
            quoted = ", ".join(f"'{m}'" for m in seen[:3])
            reasons.append(Reason(hits[0].kind, f"{self._label(category)}: {verb} {quoted}", category, flag))
            candidates.append(_Candidate(category, flag, "rule", min(0.99, 0.9 + 0.03 * (len(seen) - 1))))

        # 2. Text models.
        negative = sentiment_label == "negative" and sentiment_score >= guide.models.negative_threshold
        best_category, best_probability = top_categories[0] if top_categories else (guide.default_category, 0.0)
        for rank, (category_id, probability) in enumerate(top_categories):
            spec = self._specs.get(category_id)
            if spec is None or not spec.model or category_id == guide.default_category:
                continue
            # The top guess counts at the usual bar; a runner-up only when it is red (it can only raise).
            if rank == 0:
                bar = guide.models.red_min_confidence if spec.flag == "red" else guide.models.category_min_confidence
            elif spec.flag == "red":
                bar = guide.models.runner_up_red_min_confidence
            else:
                continue
            if probability < bar:
                continue
            reasons.append(Reason("model", f"classifier: {spec.label} ({probability:.2f})", spec.id, spec.flag))
            candidates.append(_Candidate(spec.id, spec.flag, "model", probability))
        is_offensive = offensive_score >= guide.models.offensive_threshold
        if is_offensive:
            target = guide.models.offensive_category
            reasons.append(
                Reason(
                    "offensive",
                    f"offensive language ({offensive_score:.2f})",
                    target,
                    self._flag(target) if target else None,
                )
            )
            if target:
                candidates.append(_Candidate(target, self._flag(target) or "yellow", "model", offensive_score))

        # 3. Who is speaking.
        tags = {t.lower() for t in post.author_tags}
        followers = post.author_followers or 0
        if followers >= guide.authors.influencer_followers or "influencer" in tags:
            detail = (
                f"{followers:,} followers ≥ {guide.authors.influencer_followers:,}"
                if followers >= guide.authors.influencer_followers
                else "tagged influencer"
            )
            target = guide.authors.influencer_category if negative else None
            reasons.append(Reason("author", f"influencer: {detail}", target, self._flag(target) if target else None))
            if target:
                candidates.append(_Candidate(target, self._flag(target) or "yellow", "author", 0.8))
        if "employee" in tags:
            target = guide.authors.employee_category if negative else None
            reasons.append(
                Reason(
                    "author", "author is a current or former employee", target, self._flag(target) if target else None
                )
            )
            if target:
                candidates.append(_Candidate(target, self._flag(target) or "yellow", "author", 0.8))
        if "journalist" in tags:
            reasons.append(
                Reason(
                    "author", "author is a journalist", None, guide.authors.journalist_min_flag if negative else None
                )
            )
            if negative:
                target = guide.sources.negative_media_category
                if target:
                    candidates.append(
                        _Candidate(
                            target,
                            worse(self._flag(target) or "yellow", guide.authors.journalist_min_flag),
                            "author",
                            0.75,
                        )
                    )
        if tags.intersection(t.lower() for t in guide.authors.troll_tags):
            reasons.append(Reason("author", "known troll: monitor, do not feed"))
        if post.author_verified:
            reasons.append(Reason("author", "verified account"))

        # 4. Where it was said.
        host = urlsplit(post.url).hostname or "" if post.url else ""
        is_news = post.channel_kind in guide.sources.news_channel_kinds or any(
            host == d or host.endswith("." + d) for d in guide.sources.news_domains
        )
        is_blog = post.channel_kind in guide.sources.blog_channel_kinds
        if (is_news or is_blog) and negative and guide.sources.negative_media_category:
            target = guide.sources.negative_media_category
            where = "news site" if is_news else "blog"
            reasons.append(Reason("source", f"{where} with a negative tone", target, self._flag(target)))
            candidates.append(_Candidate(target, self._flag(target) or "yellow", "source", 0.7))

        # 5. The author's recent history.
        complaints = post.prior_negative_by_author + (1 if negative else 0)
        min_flag = "green"
        if complaints >= guide.threads.repeat_complaints:
            min_flag = guide.threads.repeat_min_flag
            reasons.append(
                Reason(
                    "thread",
                    f"{_ordinal(complaints)} negative post from this author in {guide.threads.window_days} days",
                    None,
                    min_flag,
                )
            )

        # Decide: worst flag, then rule > author/source/thread > model, then confidence.
        if candidates:
            chosen = max(candidates, key=lambda c: (FLAG_SEVERITY[c.flag], _RANK[c.source], c.confidence))
            category, flag, confidence = chosen.category, chosen.flag, chosen.confidence
        else:
            category = guide.default_category
            flag = self._flag(category) or "green"
            confidence = best_probability if best_category == category else max(0.5, 1 - best_probability)
        flag = worse(flag, min_flag)
        group = self._specs[category].group if category in self._specs else "general"
        return TriageResult(
            flag=flag,
            category=category,
            group=group,
            sentiment=sentiment_label,
            sentiment_score=sentiment_score,
            offensive=is_offensive,
            offensive_score=offensive_score,
            intent=_intent(post.text, category, sentiment_label, negative),
            confidence=confidence,
            reasons=tuple(reasons),
        )


def _intent(text: str, category: str, sentiment: str, negative: bool) -> str | None:
    if category in ("legal_threat", "threat"):
        return "threat"
    if "?" in text or _QUESTION_START.match(text):
        return "question"
    if negative:
        return "complaint"
    if category == "praise" or sentiment == "positive":
        return "praise"
    return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
