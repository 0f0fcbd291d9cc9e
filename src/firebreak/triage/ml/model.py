"""A linear text model stored as plain numpy arrays, and its fast scoring path.

A model is a feature space (vocabularies and IDF weights) plus coefficients, an intercept and class
labels. It is saved with `np.savez_compressed` and loaded with `allow_pickle=False`: no pickled
objects, nothing executed on load, and nothing that breaks when scikit-learn changes its internals.

Scoring a batch never builds the character block itself. Each token's character score `v_t · W`
and squared norm `|v_t|²` are computed once and cached per model, so a post costs a lookup per
token (see features.py for why the block is defined that way).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import sparse

from firebreak.core.errors import ConfigurationError
from firebreak.triage.ml.features import Doc, FeatureSettings, FeatureSpace, blob, sigmoid, softmax, unblob

Kind = Literal["softmax", "binary"]
ModelName = Literal["sentiment", "offensive", "category"]
MODEL_NAMES: tuple[ModelName, ...] = ("sentiment", "offensive", "category")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
SHIPPED_DIR = Path(__file__).resolve().parent / "artefacts"

TOKEN_CACHE_LIMIT = 100_000  # tokens remembered per model before the cache starts afresh


@dataclass(slots=True)
class Batch:
    """Analysed posts prepared once and scored by every model sharing their feature settings."""

    docs: Sequence[Doc]
    word_keys: list[str]
    word_counts: np.ndarray
    word_rows: np.ndarray
    tokens: list[str]  # the distinct tokens of the batch
    occurrences: sparse.csr_matrix  # posts × distinct tokens, one per occurrence

    @classmethod
    def of(cls, docs: Sequence[Doc]) -> Batch:
        """Prepare analysed posts for scoring."""
        word_keys: list[str] = []
        word_counts: list[int] = []
        word_lengths = np.empty(len(docs), dtype=np.int64)
        token_index: dict[str, int] = {}
        token_cols: list[int] = []
        token_lengths = np.empty(len(docs), dtype=np.int64)
        for row, doc in enumerate(docs):
            word_keys.extend(doc.words.keys())
            word_counts.extend(doc.words.values())
            word_lengths[row] = len(doc.words)
            token_cols.extend(token_index.setdefault(t, len(token_index)) for t in doc.tokens)
            token_lengths[row] = len(doc.tokens)
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(token_lengths, out=indptr[1:])
        occurrences = sparse.csr_matrix(
            (np.ones(len(token_cols)), np.asarray(token_cols, dtype=np.int64), indptr),
            shape=(len(docs), len(token_index)),
        )
        return cls(
            docs=docs,
            word_keys=word_keys,
            word_counts=np.log(np.asarray(word_counts, dtype=np.float64)) + 1.0,
            word_rows=np.repeat(np.arange(len(docs), dtype=np.int64), word_lengths),
            tokens=list(token_index),
            occurrences=occurrences,
        )


class LinearModel:
    """One trained classifier: feature space, coefficients and labels."""

    def __init__(
        self,
        *,
        name: str,
        kind: Kind,
        classes: Sequence[str],
        space: FeatureSpace,
        coef_word: np.ndarray,
        coef_char: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        width = 1 if kind == "binary" else len(classes)
        if kind == "binary" and len(classes) != 2:
            raise ValueError("a binary model has exactly two classes")
        if coef_word.shape != (space.n_words, width) or coef_char.shape != (len(space.char_terms), width):
            raise ValueError(
                f"coefficients {coef_word.shape} + {coef_char.shape} do not fit "
                f"{space.n_words} word and {len(space.char_terms)} character terms × {width}"
            )
        if intercept.shape != (width,):
            raise ValueError(f"intercept has shape {intercept.shape}, expected ({width},)")
        self.name = name
        self.kind: Kind = kind
        self.classes = tuple(classes)
        self.space = space
        self.coef_word = np.asarray(coef_word, dtype=np.float32)
        self.coef_char = np.asarray(coef_char, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self._lock = threading.Lock()
        self._token_rows: dict[str, int] = {}
        self._token_table = np.zeros((1024, width + 1), dtype=np.float32)

    @property
    def settings(self) -> FeatureSettings:
        return self.space.settings

    # -- scoring -----------------------------------------------------------------------------

    def _rows_for(self, tokens: list[str]) -> np.ndarray:
        # The lock keeps the cache and its table consistent when worker threads share a model.
        with self._lock:
            if len(self._token_rows) + len(tokens) > TOKEN_CACHE_LIMIT:
                self._token_rows = {}
            cache = self._token_rows
            missing = [t for t in tokens if t not in cache]
            if missing:
                vectors = self.space.token_vectors(missing)
                block = np.empty((len(missing), self._token_table.shape[1]), dtype=np.float32)
                block[:, :-1] = vectors @ self.coef_char
                block[:, -1] = np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
                start = len(cache)
                if start + len(missing) > len(self._token_table):
                    grown = np.zeros(
                        (max(2 * len(self._token_table), start + len(missing)), block.shape[1]), np.float32
                    )
                    grown[:start] = self._token_table[:start]
                    self._token_table = grown
                self._token_table[start : start + len(missing)] = block
                cache.update(zip(missing, range(start, start + len(missing)), strict=True))
            rows = np.fromiter(map(cache.__getitem__, tokens), dtype=np.int64, count=len(tokens))
            return self._token_table[rows]

    def scores(self, batch: Batch) -> np.ndarray:
        """Return the raw linear scores (posts × width) of a prepared batch."""
        n = len(batch.docs)
        ids = np.fromiter(map(self.space.word_index.get, batch.word_keys, repeat(-1)), dtype=np.int64)
        known = ids >= 0
        ids, rows = ids[known], batch.word_rows[known]
        values = batch.word_counts[known] * self.space.word_idf[ids]
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n))
        values = values / np.maximum(norms[rows], 1e-12)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        words = sparse.csr_matrix((values.astype(np.float32), ids, indptr), shape=(n, self.space.n_words))
        result = np.asarray(words @ self.coef_word, dtype=np.float64)
        if batch.tokens:
            summed = batch.occurrences @ self._rows_for(batch.tokens)
            scale = self.settings.char_weight / np.sqrt(np.maximum(summed[:, -1], 1e-12))
            result += summed[:, :-1] * scale[:, None]
        return result + self.intercept

    def probabilities(self, batch: Batch) -> np.ndarray:
        """Return class probabilities (posts × classes) of a prepared batch."""
        scores = self.scores(batch)
        if self.kind == "binary":
            positive = sigmoid(scores[:, 0])
            return np.column_stack([1.0 - positive, positive])
        return softmax(scores)

    # -- storage -----------------------------------------------------------------------------

    def meta(self) -> dict[str, object]:
        """Return what describes this model besides its arrays."""
        return {
            "name": self.name,
            "kind": self.kind,
            "classes": list(self.classes),
            "features": self.settings.to_json(),
            "word_terms": self.space.n_words,
            "char_terms": len(self.space.char_terms),
        }

    def save(self, path: Path) -> None:
        """Write the model to one compressed .npz file (float16 coefficients and IDF weights)."""
        np.savez_compressed(
            path,
            meta=blob([json.dumps(self.meta(), sort_keys=True)]),
            word_terms=blob(self.space.word_terms),
            char_terms=blob(self.space.char_terms),
            word_idf=self.space.word_idf.astype(np.float16),
            char_idf=self.space.char_idf.astype(np.float16),
            coef_word=self.coef_word.astype(np.float16),
            coef_char=self.coef_char.astype(np.float16),
            intercept=self.intercept.astype(np.float32),
        )

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a model written by `save`; raise ValueError (or OSError) when it is unusable."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        needed = {"meta", "word_terms", "char_terms", "word_idf", "char_idf", "coef_word", "coef_char", "intercept"}
        if missing := needed - arrays.keys():
            raise ValueError(f"missing arrays {sorted(missing)}")
        meta = json.loads(unblob(arrays["meta"])[0])
        if not isinstance(meta, dict) or meta.get("kind") not in ("softmax", "binary"):
            raise ValueError("meta must name a kind of 'softmax' or 'binary'")
        space = FeatureSpace(
            FeatureSettings.from_json(meta.get("features")),
            word_terms=unblob(arrays["word_terms"]),
            word_idf=arrays["word_idf"].astype(np.float32),
            char_terms=unblob(arrays["char_terms"]),
            char_idf=arrays["char_idf"].astype(np.float32),
        )
        classes = meta.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ValueError("meta.classes must be a list of labels")
        return cls(
            name=str(meta.get("name")),
            kind=meta["kind"],
            classes=classes,
            space=space,
            coef_word=arrays["coef_word"],
            coef_char=arrays["coef_char"],
            intercept=arrays["intercept"],
        )


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, object]:
    """Return the manifest of an artefact directory, or raise ConfigurationError naming the file."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"model manifest {path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"model manifest {path} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ConfigurationError(f"model manifest {path} is not format {MANIFEST_FORMAT}")
    models = manifest.get("models")
    if not isinstance(models, dict) or set(models) != set(MODEL_NAMES):
        raise ConfigurationError(f"model manifest {path} must describe the models {', '.join(MODEL_NAMES)}")
    return manifest
