"""Four-class emotion (anger, joy, optimism, sadness) per sentence, to read the warmth of a draft.

A logistic-regression head on the all-MiniLM-L6-v2 sentence embedding (`embedder.encode`), trained
on TweetEval's emotion tweets (Mohammad et al. 2018, SemEval 2018 task 1) by `manage.py train_tone`,
with balanced class weights (optimism is 9% of the training tweets) and its regularisation chosen by
cross-validation on the training split alone, so the macro-F1 reported on the validation split is a
clean held-out figure (`bench/tone.py` measures it next to a majority and a keyword baseline).

The tone check reads two numbers from it per sentence: `anger`, and `warmth`, the probability of
sadness plus optimism. In a crisis statement those are the registers of empathy: sorrow for what
happened ("we are deeply sorry", "we know how hard this has been") and resolve about what comes next
("we are committed to", "we will make this right"); joy is neither (a cheerful statement about an
outage reads as tone-deaf), and anger is what a defensive or blaming sentence sounds like.

The artifact mirrors `listening.nlp.sentiment`'s: a numpy `.npz` (no pickle) of the head's weights
and a JSON `config` (format, labels, normalisation version, metrics, training data).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from listening.nlp import embedder
from listening.nlp.artifact import ArtifactCache, npz_read, npz_write
from listening.nlp.normalize import NORMALIZATION_VERSION

LABELS: tuple[str, str, str, str] = ("anger", "joy", "optimism", "sadness")
WARM_LABELS: tuple[str, str] = ("optimism", "sadness")
ARTIFACT_PATH = Path(__file__).resolve().parent / "artifacts" / "tone-emotion-v1.npz"
ARTIFACT_FORMAT = "candor-tone-emotion/1"


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class EmotionModel:
    """A loaded emotion artifact. Thread-safe: predict reads only."""

    def __init__(
        self,
        coef: npt.NDArray[np.float32],
        intercept: npt.NDArray[np.float32],
        config: dict[str, Any],
        sha256: str,
    ) -> None:
        if coef.shape != (len(LABELS), embedder.EMBEDDING_DIM) or intercept.shape != (len(LABELS),):
            raise ValueError(f"emotion head of shape {coef.shape}/{intercept.shape}")
        self.coef = coef
        self.intercept = intercept
        self.config = config
        self.sha256 = sha256

    @property
    def version(self) -> str:
        return str(self.config["version"])

    @classmethod
    def load(cls, path: Path | str = ARTIFACT_PATH) -> EmotionModel:
        """The model of an artifact, read once per process and path (later calls share it)."""
        return _cache.get(path, cls.read)

    @classmethod
    def read(cls, path: Path) -> EmotionModel:
        """The model of an artifact, read now (uncached: `load` is what the product calls)."""
        stored = npz_read(
            path, artifact_format=ARTIFACT_FORMAT, what="an emotion artifact", retrain="train_tone"
        )
        return cls(
            stored.arrays["coef"].astype(np.float32),
            stored.arrays["intercept"].astype(np.float32),
            stored.config,
            stored.sha256,
        )

    def proba_from_embeddings(self, embeddings: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        """Probabilities (n, 4) in LABELS order from `embedder.encode` vectors."""
        if embeddings.ndim != 2 or embeddings.shape[1] != embedder.EMBEDDING_DIM:
            raise ValueError(
                f"embeddings of shape {embeddings.shape}; expected (n, {embedder.EMBEDDING_DIM})"
            )
        logits = embeddings.astype(np.float64) @ self.coef.T.astype(np.float64) + self.intercept
        return _softmax(logits)

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Probabilities (len(texts), 4) in LABELS order."""
        if len(texts) == 0:
            return np.empty((0, len(LABELS)), dtype=np.float64)
        return self.proba_from_embeddings(embedder.encode(texts))


_cache: ArtifactCache[EmotionModel] = ArtifactCache()


def artifact_write(
    path: Path,
    coef: npt.NDArray[np.floating[Any]],
    intercept: npt.NDArray[np.floating[Any]],
    config: dict[str, Any],
) -> str:
    """Write an artifact (byte-for-byte reproducible for the same weights) and return its SHA-256."""
    full_config = {
        **config,
        "format": ARTIFACT_FORMAT,
        "labels": list(LABELS),
        "warm_labels": list(WARM_LABELS),
        "normalization": NORMALIZATION_VERSION,
        "embedding_model": embedder.MODEL_NAME,
        "embedding_dim": embedder.EMBEDDING_DIM,
    }
    arrays = {
        "coef": np.asarray(coef, dtype=np.float32),
        "intercept": np.asarray(intercept, dtype=np.float32),
    }
    return npz_write(path, config=full_config, arrays=arrays)
