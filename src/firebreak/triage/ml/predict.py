"""Load the trained text models and predict sentiment, offensiveness and category for posts.

`load_models()` returns the models shipped in the package; `load_models(dir)` prefers a directory
written by `firebreak train` (it must hold a manifest.json). Loaded models are cached per directory
and reloaded when its manifest changes. Prediction needs numpy and scipy only.
"""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firebreak.core.errors import ConfigurationError
from firebreak.triage.ml.features import FeatureSettings, analyse
from firebreak.triage.ml.model import MANIFEST, MODEL_NAMES, SHIPPED_DIR, Batch, LinearModel, read_manifest, sha256_file

TOP_CATEGORIES = 3


@dataclass(frozen=True, slots=True)
class TextPrediction:
    """Everything the text models say about one post."""

    sentiment: str
    sentiment_probability: float
    offensive: float
    categories: list[tuple[str, float]]  # best first


class TextModels:
    """The three trained text models of one artefact directory."""

    def __init__(self, *, version: str, directory: Path, manifest: dict[str, object], models: dict[str, LinearModel]):
        self.version = version
        self.directory = directory
        self.manifest = manifest
        self._sentiment = models["sentiment"]
        self._offensive = models["offensive"]
        self._category = models["category"]
        self.categories: tuple[str, ...] = self._category.classes
        self._last: tuple[tuple[str, ...], dict[FeatureSettings, Batch]] | None = None

    def _batch(self, texts: Sequence[str], settings: FeatureSettings) -> Batch:
        # The pipeline asks for sentiment, offensive and category of the same batch one after
        # another; remembering the last batch's analysis saves doing it three times.
        key = tuple(texts)
        last = self._last
        if last is not None and last[0] == key and settings in last[1]:
            return last[1][settings]
        batch = Batch.of([analyse(text, settings) for text in key])
        cached = last[1] if last is not None and last[0] == key else {}
        self._last = (key, {**cached, settings: batch})
        return batch

    def _probabilities(self, model: LinearModel, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(model.classes)))
        return model.probabilities(self._batch(texts, model.settings))

    def sentiment(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Return each post's sentiment label (negative, neutral, positive) and its probability."""
        probabilities = self._probabilities(self._sentiment, texts)
        best = probabilities.argmax(axis=1)
        labels = self._sentiment.classes
        return [(labels[i], float(p[i])) for i, p in zip(best, probabilities, strict=True)]

    def offensive(self, texts: Sequence[str]) -> list[float]:
        """Return each post's probability of being offensive or abusive."""
        return [float(p) for p in self._probabilities(self._offensive, texts)[:, 1]]

    def category(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Return each post's three most likely categories with their probabilities, best first."""
        probabilities = self._probabilities(self._category, texts)
        # A stable sort on the negated probabilities breaks ties by class order, deterministically.
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_CATEGORIES]
        labels = self.categories
        return [[(labels[i], float(p[i])) for i in row] for row, p in zip(order, probabilities, strict=True)]

    def predict(self, texts: Sequence[str]) -> list[TextPrediction]:
        """Return sentiment, offensiveness and top categories of each post in one call."""
        sentiment = self.sentiment(texts)
        offensive = self.offensive(texts)
        categories = self.category(texts)
        return [
            TextPrediction(label, probability, score, top)
            for (label, probability), score, top in zip(sentiment, offensive, categories, strict=True)
        ]


_cache: dict[tuple[Path, int, int], TextModels] = {}
_cache_lock = threading.Lock()


def _artefact_dir(models_dir: Path | None) -> Path:
    if models_dir is not None and (models_dir / MANIFEST).is_file():
        return models_dir.resolve()
    return SHIPPED_DIR


def load_models(models_dir: Path | None = None) -> TextModels:
    """Return the models in `models_dir` if it holds a manifest.json, else the shipped ones."""
    directory = _artefact_dir(models_dir)
    try:
        stat = (directory / MANIFEST).stat()
    except OSError:
        raise ConfigurationError(f"model manifest {directory / MANIFEST} is missing") from None
    key = (directory, stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        models = _cache.get(key)
        if models is None:
            models = _load(directory)
            for stale in [k for k in _cache if k[0] == directory]:
                del _cache[stale]
            _cache[key] = models
        return models


def _load(directory: Path) -> TextModels:
    manifest = read_manifest(directory)
    entries = manifest["models"]
    assert isinstance(entries, dict)
    models: dict[str, LinearModel] = {}
    for name in MODEL_NAMES:
        entry = entries[name]
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ConfigurationError(f"model manifest {directory / MANIFEST}: models.{name}.file is missing")
        path = directory / entry["file"]
        if not path.is_file():
            raise ConfigurationError(f"model file {path} is missing; retrain with `firebreak train`")
        # The checksum catches a truncated or altered file before numpy tries to make sense of it.
        if entry.get("sha256") and sha256_file(path) != entry["sha256"]:
            raise ConfigurationError(f"model file {path} is corrupt (its SHA-256 does not match {MANIFEST})")
        try:
            model = LinearModel.load(path)
        except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"model file {path} is corrupt or from another version: {exc}") from None
        if model.name != name:
            raise ConfigurationError(f"model file {path} holds the {model.name!r} model, not {name!r}")
        models[name] = model
    if models["sentiment"].classes != ("negative", "neutral", "positive"):
        raise ConfigurationError(f"model file {directory / 'sentiment.npz'} has unexpected classes")
    version = manifest.get("version")
    return TextModels(version=str(version), directory=directory, manifest=manifest, models=models)
