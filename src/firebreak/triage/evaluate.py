"""Score triage against labelled texts: per-class precision, recall and F1, and a confusion matrix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(slots=True)
class Evaluation:
    """Scores of predicted vs expected labels."""

    labels: list[str]
    scores: list[ClassScore]
    accuracy: float
    macro_f1: float
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)  # (expected, predicted) → count
    wrong: list[int] = field(default_factory=list)  # indexes of misclassified inputs


def evaluate(expected: Sequence[str], predicted: Sequence[str]) -> Evaluation:
    """Compare two equally long label sequences."""
    if len(expected) != len(predicted):
        raise ValueError("expected and predicted must have the same length")
    labels = sorted(set(expected) | set(predicted))
    confusion = Counter(zip(expected, predicted, strict=True))
    scores = []
    for label in labels:
        tp = confusion[(label, label)]
        predicted_n = sum(n for (_, p), n in confusion.items() if p == label)
        support = sum(n for (e, _), n in confusion.items() if e == label)
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ClassScore(label, precision, recall, f1, support))
    supported = [s for s in scores if s.support]
    correct = sum(1 for e, p in zip(expected, predicted, strict=True) if e == p)
    return Evaluation(
        labels=labels,
        scores=scores,
        accuracy=correct / len(expected) if expected else 0.0,
        macro_f1=sum(s.f1 for s in supported) / len(supported) if supported else 0.0,
        confusion=dict(confusion),
        wrong=[i for i, (e, p) in enumerate(zip(expected, predicted, strict=True)) if e != p],
    )
