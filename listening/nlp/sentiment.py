"""Three-class sentiment (negative, neutral, positive) with a confidence, for social posts.

The model is two logistic-regression heads whose log-probabilities are averaged (late fusion):

- one on the MiniLM sentence embedding (`embedder.encode`), which knows paraphrases and context;
- one on hashed word 1-2-grams and character 2-5-grams, which knows the surface of tweets
  (hashtags, elongations, emoticon phrases, misspellings) that the embedding smooths away.

Each alone reaches 0.68 macro-averaged recall on the TweetEval validation split; averaged with equal
weights, 0.718 (VADER: 0.598; `manage.py train_sentiment` and `bench/sentiment.py` print them).
Both heads were trained with balanced class weights, so the probabilities are those of a balanced
world: negative posts, 16% of the training tweets, are not out-voted by the prior; the confidence
is the winning label's probability in that world. The heads add about 1% to the embedder's time.

The artifact is a numpy `.npz` (no pickle): the heads' weights and a JSON `config` holding the
version, the n-gram hashing parameters (a HashingVectorizer needs no vocabulary) and the
normalisation version it was trained with. `SentimentModel.load()` reads the committed one once per
process and reports its SHA-256.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from listening.nlp import embedder
from listening.nlp.artifact import ArtifactCache, npz_read, npz_write
from listening.nlp.normalize import NORMALIZATION_VERSION, normalize_text

LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
ARTIFACT_PATH = Path(__file__).resolve().parent / "artifacts" / "sentiment-v1.npz"
ARTIFACT_FORMAT = "candor-sentiment/1"
# Tokens for the word n-grams: words with their `@`/`#` sign, and single punctuation marks (`!`,
# `?` carry sentiment; sklearn's default pattern drops them and one-letter words).
WORD_PATTERN = r"(?u)[@#]?\w+|[^\w\s]"


@dataclass(frozen=True, slots=True)
class NgramSpec:
    """How texts become the n-gram head's features: the hashing parameters, stored in the artifact.
    Word and character blocks are each binary and L2-normalised, then side by side."""

    word_ngrams: tuple[int, int]
    char_ngrams: tuple[int, int]
    hash_bits: int  # 2**hash_bits columns per block
    word_pattern: str = WORD_PATTERN

    def vectorizers(self) -> tuple[HashingVectorizer, HashingVectorizer]:
        common: dict[str, Any] = {
            "n_features": 2**self.hash_bits,
            "alternate_sign": False,
            "binary": True,
            "norm": "l2",
            "dtype": np.float32,
        }
        words = HashingVectorizer(
            analyzer="word", ngram_range=self.word_ngrams, token_pattern=self.word_pattern, **common
        )
        chars = HashingVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, **common)
        return words, chars

    def features(self, normalized: Sequence[str]) -> sparse.csr_matrix:
        """The n-gram matrix of texts already in `model_text` form: (n, 2 * 2**hash_bits)."""
        words, chars = self.vectorizers()
        return sparse.hstack([words.transform(normalized), chars.transform(normalized)], format="csr")

    def as_json(self) -> dict[str, Any]:
        return {
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "hash_bits": self.hash_bits,
            "word_pattern": self.word_pattern,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NgramSpec:
        low_word, high_word = data["word_ngrams"]
        low_char, high_char = data["char_ngrams"]
        return cls((low_word, high_word), (low_char, high_char), int(data["hash_bits"]), data["word_pattern"])


def model_text(text: str) -> str:
    """What the n-gram head reads of a post: what the embedder reads, so a 100k-character post
    costs no more than a long one."""
    return normalize_text(text)[: embedder.MAX_CHARS]


def _log_softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class SentimentHeads:
    """The weights of both heads and how to mix them: what an artifact stores."""

    embedding_coef: npt.NDArray[np.float32]  # (3, EMBEDDING_DIM)
    embedding_intercept: npt.NDArray[np.float32]  # (3,)
    ngram_coef: npt.NDArray[np.float32]  # (3, 2 * 2**hash_bits)
    ngram_intercept: npt.NDArray[np.float32]  # (3,)
    ngram: NgramSpec
    embedding_weight: float  # of the embedding head's log-probabilities; the n-gram head has the rest

    def proba(
        self, embeddings: npt.NDArray[np.floating[Any]], ngrams: sparse.csr_matrix
    ) -> npt.NDArray[np.float64]:
        """Probabilities (n, 3) in LABELS order from precomputed inputs."""
        embedding_logits = embeddings.astype(np.float64) @ self.embedding_coef.T + self.embedding_intercept
        ngram_logits = np.asarray(ngrams @ self.ngram_coef.T, dtype=np.float64) + self.ngram_intercept
        mixed = self.embedding_weight * _log_softmax(embedding_logits) + (
            1.0 - self.embedding_weight
        ) * _log_softmax(ngram_logits)
        return np.exp(_log_softmax(mixed))


class SentimentModel:
    """A loaded sentiment artifact. Thread-safe: predict reads only."""

    def __init__(self, heads: SentimentHeads, config: dict[str, Any], sha256: str, path: Path) -> None:
        self.heads = heads
        self.config = config
        self.sha256 = sha256
        self.path = path

    @property
    def version(self) -> str:
        return str(self.config["version"])

    @classmethod
    def load(cls, path: Path | str = ARTIFACT_PATH) -> SentimentModel:
        """The model of an artifact, read once per process and path (later calls share it)."""
        return _cache.get(path, cls.read)

    @classmethod
    def read(cls, path: Path) -> SentimentModel:
        """The model of an artifact, read now (uncached: `load` is what the product calls)."""
        stored = npz_read(
            path, artifact_format=ARTIFACT_FORMAT, what="a sentiment artifact", retrain="train_sentiment"
        )
        arrays, config = stored.arrays, stored.config
        heads = SentimentHeads(
            embedding_coef=arrays["embedding_coef"].astype(np.float32),
            embedding_intercept=arrays["embedding_intercept"].astype(np.float32),
            ngram_coef=arrays["ngram_coef"].astype(np.float32),
            ngram_intercept=arrays["ngram_intercept"].astype(np.float32),
            ngram=NgramSpec.from_json(config["ngram"]),
            embedding_weight=float(config["embedding_weight"]),
        )
        return cls(heads, config, stored.sha256, path)

    def predict_proba(
        self, texts: Sequence[str], embeddings: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.float64]:
        """Probabilities (len(texts), 3) in LABELS order. `embeddings`, if given, must be
        `embedder.encode(texts)` (the caller's, so enrichment embeds each post once)."""
        if embeddings is None:
            embeddings = embedder.encode(texts)
        elif embeddings.shape != (len(texts), embedder.EMBEDDING_DIM):
            raise ValueError(
                f"embeddings of shape {embeddings.shape} for {len(texts)} texts;"
                f" expected ({len(texts)}, {embedder.EMBEDDING_DIM})"
            )
        if len(texts) == 0:
            return np.empty((0, len(LABELS)), dtype=np.float64)
        ngrams = self.heads.ngram.features([model_text(text) for text in texts])
        return self.heads.proba(embeddings, ngrams)

    def predict(
        self, texts: Sequence[str], embeddings: npt.NDArray[np.float32] | None = None
    ) -> list[tuple[str, float]]:
        """(label, confidence) per text: the likeliest label and its probability."""
        proba = self.predict_proba(texts, embeddings)
        best = proba.argmax(axis=1)
        return [(LABELS[i], float(p)) for i, p in zip(best, proba[np.arange(len(best)), best], strict=True)]


_cache: ArtifactCache[SentimentModel] = ArtifactCache()


def artifact_write(path: Path, heads: SentimentHeads, config: dict[str, Any]) -> str:
    """Write an artifact and return its SHA-256. The n-gram weights are stored as float16: that
    halves the file and moves no probability by more than about 1e-3."""
    full_config = {
        **config,
        "format": ARTIFACT_FORMAT,
        "labels": list(LABELS),
        "normalization": NORMALIZATION_VERSION,
        "embedding_model": embedder.MODEL_NAME,
        "embedding_dim": embedder.EMBEDDING_DIM,
        "ngram": heads.ngram.as_json(),
        "embedding_weight": heads.embedding_weight,
    }
    arrays: dict[str, npt.NDArray[Any]] = {
        "embedding_coef": heads.embedding_coef.astype(np.float32),
        "embedding_intercept": heads.embedding_intercept.astype(np.float32),
        "ngram_coef": heads.ngram_coef.astype(np.float16),
        "ngram_intercept": heads.ngram_intercept.astype(np.float32),
    }
    return npz_write(path, config=full_config, arrays=arrays)
