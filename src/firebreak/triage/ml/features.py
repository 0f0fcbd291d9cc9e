"""Turn posts into sparse feature vectors, the same way when training and when predicting.

Nothing here depends on scikit-learn. A model's feature space is its own vocabulary with IDF
weights, stored with the model, in two blocks:

* **words**: word unigrams and bigrams plus a few marker terms, sublinear TF × IDF, L2-normalised;
* **characters**: n-grams inside each token padded with spaces (like scikit-learn's `char_wb`).
  A token's character vector `v_t` is its n-gram counts × IDF; a post's block is the sum of its
  tokens' vectors divided by `sqrt(Σ |v_t|²)`. That is the L2 norm when tokens share no n-grams,
  and it lets prediction cache `v_t · W` per token: a post then costs one lookup per token, not one
  per n-gram, which is what keeps three models under a few hundred microseconds a post.

Tweet-aware steps: Unicode compatibility form without Latin accents; URLs become `httpurl` and
@handles become `@user` (TweetEval already writes mentions that way); a run of three or more of one
letter is cut to two ("soooo" → "soo") with an `<elong>` marker; digit runs of three or more become
`000`, so order numbers and amounts generalise; words in capitals add a `<caps>` marker; case is
folded. Symbols are tokens of one character each, so "!!!!" counts four "!" (cutting such runs, or
repeated tokens, lowered offensive macro-F1 on val from 0.734 to 0.721). Emoji stay: each
pictograph is a token of its own (skin tones, joiners and variation selectors dropped). A hashtag
gives `#tag` and also the bare word `tag`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import NamedTuple

import numpy as np
from scipy import sparse

# Bump when any step below changes what terms a text produces; artefacts record it and a model
# trained under another version is refused at load rather than scoring garbage.
FEATURES_VERSION = 1

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_ACCENTS = re.compile(r"[\u0300-\u036f]")
_EMOJI_NOISE = re.compile(r"[\ufe0e\ufe0f\u200d\u20e3\U0001f3fb-\U0001f3ff]")
_LONG_RUN = re.compile(r"(.)\1{2,}")
_DIGITS = re.compile(r"\d{3,}")
_TOKEN = re.compile(r"[#@]?[^\W_]+(?:['’][^\W_]+)*|[^\w\s]")

CAPS = "<caps>"
ELONG = "<elong>"


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """How terms are made and weighted; stored with each model."""

    word_ngrams: int = 2  # unigrams up to this length
    char_ngrams: tuple[int, int] = (2, 5)
    char_weight: float = 1.0  # the character block's scale after normalisation

    def to_json(self) -> dict[str, object]:
        """Return the settings as plain JSON values."""
        return {
            "features_version": FEATURES_VERSION,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": list(self.char_ngrams),
            "char_weight": self.char_weight,
        }

    @classmethod
    def from_json(cls, data: object) -> FeatureSettings:
        """Read settings written by `to_json`; raise ValueError when they do not fit this code."""
        if not isinstance(data, dict):
            raise ValueError("feature settings must be an object")
        if data.get("features_version") != FEATURES_VERSION:
            raise ValueError(
                f"features_version {data.get('features_version')!r} is not {FEATURES_VERSION}; retrain the models"
            )
        char = data.get("char_ngrams")
        if not (isinstance(char, list) and len(char) == 2 and all(isinstance(n, int) and n > 0 for n in char)):
            raise ValueError("char_ngrams must be [low, high]")
        word = data.get("word_ngrams")
        weight = data.get("char_weight")
        if not isinstance(word, int) or word < 1 or not isinstance(weight, int | float):
            raise ValueError("word_ngrams must be a positive integer and char_weight a number")
        return cls(word_ngrams=word, char_ngrams=(char[0], char[1]), char_weight=float(weight))


class Doc(NamedTuple):
    """One analysed post: its folded tokens in order and its word terms with their counts."""

    tokens: list[str]
    words: Counter[str]


@lru_cache(maxsize=262_144)
def _fold(raw: str) -> tuple[str, bool, bool]:
    # Folding is per token and cached: the same few thousand tokens make up most posts.
    caps = len(raw) >= 3 and raw.isupper()
    folded, runs = _LONG_RUN.subn(r"\1\1", raw)
    return _DIGITS.sub("000", folded).casefold(), caps, runs > 0


def analyse(text: str, settings: FeatureSettings) -> Doc:
    """Return the tokens and word terms of one post."""
    if "://" in text or "www." in text or "WWW." in text:
        text = _URL.sub(" httpurl ", text)
    if "@" in text:
        text = _HANDLE.sub("@user", text)
    if not text.isascii():
        text = _EMOJI_NOISE.sub("", _ACCENTS.sub("", unicodedata.normalize("NFKD", text)))
    tokens: list[str] = []
    extras: list[str] = []
    caps = 0
    for raw in _TOKEN.findall(text):
        folded, is_caps, is_long = _fold(raw)
        tokens.append(folded)
        if is_caps and caps < 3:
            caps += 1
            extras.append(CAPS)
        if is_long:
            extras.append(ELONG)
        if folded[0] == "#" and len(folded) > 1:
            extras.append(folded[1:])
    words = Counter(tokens)
    words.update(extras)
    for n in range(2, settings.word_ngrams + 1):
        words.update(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return Doc(tokens, words)


@lru_cache(maxsize=262_144)
def char_terms(token: str, low: int, high: int) -> tuple[str, ...]:
    """Return the character n-grams of one token padded with spaces."""
    padded = f" {token} "
    size = len(padded)
    return tuple(padded[i : i + n] for n in range(low, min(high, size) + 1) for i in range(size - n + 1))


def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    return (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)


def _top_terms(df: Counter[str], min_df: int, max_terms: int | None) -> list[tuple[str, int]]:
    kept = [(t, c) for t, c in df.items() if c >= min_df]
    # Most frequent first, ties alphabetical, so the same data always gives the same vocabulary.
    kept.sort(key=lambda tc: (-tc[1], tc[0]))
    return kept[:max_terms] if max_terms is not None else kept


def _char_document_frequencies(docs: Sequence[Doc], settings: FeatureSettings) -> Counter[str]:
    # Counting n-grams post by post is slow in Python; instead build posts × token types and
    # token types × n-grams as sparse 0/1 matrices and count the non-zeros of their product.
    low, high = settings.char_ngrams
    token_index: dict[str, int] = {}
    cols: list[int] = []
    lengths = np.empty(len(docs), dtype=np.int64)
    for row, doc in enumerate(docs):
        distinct = set(doc.tokens)
        cols.extend(token_index.setdefault(t, len(token_index)) for t in distinct)
        lengths[row] = len(distinct)
    gram_index: dict[str, int] = {}
    gram_cols: list[int] = []
    gram_lengths = np.empty(len(token_index), dtype=np.int64)
    for row, token in enumerate(token_index):
        grams = set(char_terms(token, low, high))
        gram_cols.extend(gram_index.setdefault(g, len(gram_index)) for g in grams)
        gram_lengths[row] = len(grams)
    token_grams = _binary_rows(gram_cols, gram_lengths, len(gram_index))
    doc_tokens = _binary_rows(cols, lengths, len(token_index))
    df = np.zeros(len(gram_index), dtype=np.int64)
    for start in range(0, len(docs), 8192):  # in slices, to bound the product's memory
        product = doc_tokens[start : start + 8192] @ token_grams
        df += np.bincount(product.indices, minlength=len(gram_index))
    return Counter(dict(zip(gram_index, df.tolist(), strict=True)))


def _binary_rows(cols: list[int], lengths: np.ndarray, width: int) -> sparse.csr_matrix:
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    data = np.ones(len(cols), dtype=np.float32)
    return sparse.csr_matrix((data, np.asarray(cols, dtype=np.int64), indptr), shape=(len(lengths), width))


class FeatureSpace:
    """A model's vocabulary: word terms and character n-grams with their IDF weights."""

    def __init__(
        self,
        settings: FeatureSettings,
        *,
        word_terms: list[str],
        word_idf: np.ndarray,
        char_terms: list[str],
        char_idf: np.ndarray,
    ) -> None:
        if len(word_terms) != len(word_idf) or len(char_terms) != len(char_idf):
            raise ValueError("every vocabulary term needs one IDF weight")
        self.settings = settings
        self.word_terms = word_terms
        self.char_terms = char_terms
        self.word_idf = np.asarray(word_idf, dtype=np.float32)
        self.char_idf = np.asarray(char_idf, dtype=np.float32)
        self.word_index = {t: i for i, t in enumerate(word_terms)}
        self.char_index = {t: i for i, t in enumerate(char_terms)}
        if len(self.word_index) != len(word_terms) or len(self.char_index) != len(char_terms):
            raise ValueError("the vocabulary repeats a term")

    @property
    def n_words(self) -> int:
        return len(self.word_terms)

    @property
    def n_features(self) -> int:
        return len(self.word_terms) + len(self.char_terms)

    @classmethod
    def fit(
        cls,
        docs: Sequence[Doc],
        settings: FeatureSettings,
        *,
        min_df: int = 2,
        max_word_terms: int | None = None,
        max_char_terms: int | None = None,
    ) -> FeatureSpace:
        """Build the vocabulary from analysed training posts."""
        word_df: Counter[str] = Counter()
        for doc in docs:
            word_df.update(doc.words.keys())
        words = _top_terms(word_df, min_df, max_word_terms)
        char_df = _char_document_frequencies(docs, settings)
        chars = _top_terms(char_df, min_df, max_char_terms)
        n = len(docs)
        # IDF weights are stored as float16; rounding them here means training sees exactly the
        # weights that prediction will use.
        return cls(
            settings,
            word_terms=[t for t, _ in words],
            word_idf=_idf(np.array([c for _, c in words], dtype=np.float64), n).astype(np.float16),
            char_terms=[t for t, _ in chars],
            char_idf=_idf(np.array([c for _, c in chars], dtype=np.float64), n).astype(np.float16),
        )

    def word_matrix(self, docs: Sequence[Doc]) -> sparse.csr_matrix:
        """Return the L2-normalised sublinear TF-IDF matrix of the word block."""
        keys: list[str] = []
        counts: list[int] = []
        lengths = np.empty(len(docs), dtype=np.int64)
        for row, doc in enumerate(docs):
            keys.extend(doc.words.keys())
            counts.extend(doc.words.values())
            lengths[row] = len(doc.words)
        ids = np.fromiter(map(self.word_index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        known = ids >= 0
        ids, rows = ids[known], rows[known]
        values = (1.0 + np.log(np.asarray(counts, dtype=np.float32)[known])) * self.word_idf[ids]
        norms = np.sqrt(np.bincount(rows, weights=np.square(values, dtype=np.float64), minlength=len(docs)))
        values = (values / np.maximum(norms[rows], 1e-12)).astype(np.float32)
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(docs)), out=indptr[1:])
        return sparse.csr_matrix((values, ids, indptr), shape=(len(docs), self.n_words))

    def token_vectors(self, tokens: Sequence[str]) -> sparse.csr_matrix:
        """Return each token's character vector `v_t` (n-gram counts × IDF, unnormalised)."""
        low, high = self.settings.char_ngrams
        keys: list[str] = []
        lengths = np.empty(len(tokens), dtype=np.int64)
        for row, token in enumerate(tokens):
            grams = char_terms(token, low, high)
            keys.extend(grams)
            lengths[row] = len(grams)
        ids = np.fromiter(map(self.char_index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
        rows = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
        known = ids >= 0
        ids, rows = ids[known], rows[known]
        indptr = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(tokens)), out=indptr[1:])
        matrix = sparse.csr_matrix(
            (self.char_idf[ids], ids, indptr), shape=(len(tokens), len(self.char_terms)), dtype=np.float32
        )
        matrix.sum_duplicates()  # a token may repeat an n-gram ("banana")
        return matrix

    def char_matrix(self, docs: Sequence[Doc]) -> sparse.csr_matrix:
        """Return the character block: Σ v_t over a post's tokens divided by sqrt(Σ |v_t|²)."""
        vocab: dict[str, int] = {}
        token_ids: list[int] = []
        lengths = np.empty(len(docs), dtype=np.int64)
        for row, doc in enumerate(docs):
            token_ids.extend(vocab.setdefault(t, len(vocab)) for t in doc.tokens)
            lengths[row] = len(doc.tokens)
        vectors = self.token_vectors(list(vocab))
        sq_norms = np.asarray(vectors.multiply(vectors).sum(axis=1), dtype=np.float64).ravel()
        cols = np.asarray(token_ids, dtype=np.int64)
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        occurrences = sparse.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(len(docs), len(vocab))
        )
        doc_sq = np.bincount(np.repeat(np.arange(len(docs)), lengths), weights=sq_norms[cols], minlength=len(docs))
        scale = self.settings.char_weight / np.sqrt(np.maximum(doc_sq, 1e-12))
        summed = occurrences @ vectors
        return sparse.diags(scale.astype(np.float32)) @ summed

    def matrix(self, docs: Sequence[Doc]) -> sparse.csr_matrix:
        """Return the full feature matrix (word block, then character block) for training."""
        return sparse.hstack([self.word_matrix(docs), self.char_matrix(docs)], format="csr", dtype=np.float32)


def blob(terms: Iterable[str]) -> np.ndarray:
    """Return terms as UTF-8 bytes, one per line, for storing without pickle."""
    return np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8)


def unblob(data: np.ndarray) -> list[str]:
    """Return the terms stored by `blob`."""
    text = data.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def softmax(scores: np.ndarray) -> np.ndarray:
    """Return row-wise softmax probabilities of a score matrix."""
    shifted: np.ndarray = scores - scores.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def sigmoid(scores: np.ndarray) -> np.ndarray:
    """Return the logistic function of each score."""
    return 0.5 * (1.0 + np.tanh(0.5 * scores))
