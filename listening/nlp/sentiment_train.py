"""Training of the sentiment artifact (`manage.py train_sentiment` reads the files and reports):
pure functions over texts, labels and arrays.

The training tweets are the SemEval 2013-2016 files; the TweetEval validation split, on which the
hyper-parameters are chosen and the model is reported, was drawn from those same tweets (all 2,000
are in them, some with handles anonymised or links cut). So every training tweet that overlaps a
validation tweet is removed first (`HELD_OUT_JACCARD`), or the validation figure would measure
memory.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import numpy.typing as npt
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score

from listening.nlp.dedupe import canonical_text, story_key
from listening.nlp.normalize import HANDLE_RE, USER_PLACEHOLDER
from listening.nlp.sentiment import LABELS, NgramSpec, SentimentHeads
from listening.nlp.sentiment_data import LabelledText

# A training tweet whose character 5-grams overlap a held-out tweet's this much (Jaccard) counts as
# a copy of it. Measured between the two sets: from 0.4 up, pairs are the same tweet (anonymised
# handles, cut links, a retweet with a comment, a re-worded headline) or bot templates ("N people
# could have seen X"); below, mostly different tweets on one topic. Dropping a few template tweets
# costs nothing; keeping a copy would let the validation figure measure memory.
HELD_OUT_JACCARD = 0.4
_SHINGLE = 5
_CHUNK = 2048


def _anonymised(text: str) -> str:
    # TweetEval replaced every handle with @user; compare the data sets in that form.
    return HANDLE_RE.sub(USER_PLACEHOLDER, text)


def _shingle_sets(texts: Sequence[str]) -> sparse.csr_matrix:
    """Binary rows: the character 5-grams of each text's canonical form without spaces (hashed to
    2**22 columns; collisions are negligible at tweet length)."""
    keys = [re.sub(r"\W+", "", canonical_text(_anonymised(text))).ljust(_SHINGLE) for text in texts]
    hasher = HashingVectorizer(
        analyzer="char",
        ngram_range=(_SHINGLE, _SHINGLE),
        lowercase=False,
        n_features=2**22,
        alternate_sign=False,
        binary=True,
        norm=None,
        dtype=np.float32,
    )
    return hasher.transform(keys).tocsr()


def held_out_overlaps(texts: Sequence[str], held_out: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Which texts are copies of a held-out text: Jaccard similarity of their shingle sets
    >= HELD_OUT_JACCARD, every pair compared (a sparse product per chunk of texts)."""
    if not texts or not held_out:
        return np.zeros(len(texts), dtype=bool)
    held = _shingle_sets(held_out)
    held_sizes = np.asarray(held.sum(axis=1)).ravel()
    overlaps = np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), _CHUNK):
        rows = _shingle_sets(texts[start : start + _CHUNK])
        sizes = np.asarray(rows.sum(axis=1)).ravel()
        shared = (rows @ held.T).toarray()
        jaccard = shared / np.maximum(sizes[:, None] + held_sizes[None, :] - shared, 1.0)
        overlaps[start : start + len(sizes)] = (jaccard >= HELD_OUT_JACCARD).any(axis=1)
    return overlaps


@dataclass(frozen=True)
class TrainingSet:
    texts: list[str]
    labels: npt.NDArray[np.int64]  # indexes into LABELS
    rows: int  # rows read
    tweets: int  # distinct tweets among them (by story key)
    held_out_overlaps: int  # distinct tweets removed as copies of held-out tweets
    conflicts: int  # distinct tweets removed because their copies disagree on the label


def training_set_build(rows: Sequence[LabelledText], held_out: Sequence[str]) -> TrainingSet:
    """One example per distinct tweet: rows with the same story key (the same tweet under several
    ids, retweets, copies with other links) are merged under their majority label, tweets whose
    copies tie are dropped, and so are copies of held-out tweets."""
    groups: dict[int, list[LabelledText]] = collections.defaultdict(list)
    for row in rows:
        groups[story_key(_anonymised(row.text))].append(row)
    firsts = [members[0].text for members in groups.values()]
    overlapping = held_out_overlaps(firsts, held_out)
    texts: list[str] = []
    labels: list[int] = []
    conflicts = 0
    for members, overlaps in zip(groups.values(), overlapping, strict=True):
        if overlaps:
            continue
        votes = collections.Counter(member.label for member in members).most_common()
        if len(votes) > 1 and votes[0][1] == votes[1][1]:
            conflicts += 1
            continue
        texts.append(members[0].text)
        labels.append(LABELS.index(votes[0][0]))
    return TrainingSet(
        texts=texts,
        labels=np.array(labels, dtype=np.int64),
        rows=len(rows),
        tweets=len(groups),
        held_out_overlaps=int(overlapping.sum()),
        conflicts=conflicts,
    )


def macro_recall(truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]) -> float:
    """Recall averaged over the three labels (SemEval 2017 task 4A's measure, TweetEval's too)."""
    return float(recall_score(truth, predicted, labels=list(range(len(LABELS))), average="macro"))


@dataclass(frozen=True)
class Grid:
    """Hyper-parameters tried: inverse regularisation of each head, and the fusion weight. Kept
    small (five fits, both cores, about 4 minutes): the optimum is flat around equal weights, and a
    wider search on 2,000 validation tweets would mostly fit their noise."""

    embedding_c: tuple[float, ...] = (1.0, 3.0, 10.0)
    ngram_c: tuple[float, ...] = (1.0, 2.0)
    embedding_weight: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)


@dataclass(frozen=True)
class Split:
    embeddings: npt.NDArray[np.floating[Any]]
    ngrams: sparse.csr_matrix
    labels: npt.NDArray[np.int64]


@dataclass
class FitResult:
    heads: SentimentHeads
    hyperparameters: dict[str, float]
    val_macro_recall: float
    # Every combination tried: (embedding C, n-gram C, embedding weight) -> validation macro recall.
    grid_scores: dict[tuple[float, float, float], float] = field(default_factory=dict)
    single_head_scores: dict[str, float] = field(default_factory=dict)


def _fit(
    features: npt.NDArray[np.floating[Any]] | sparse.csr_matrix, labels: npt.NDArray[np.int64], c: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    # Balanced class weights: the score is macro recall, and negatives are 16% of the tweets.
    # sklearn's objective is a mean loss whose gradient is tiny at this size: at the default tol
    # lbfgs stops early, at a point that changes with float32/float64 input; at 1e-6 the solution is
    # converged (1e-8 gives the same scores). No warm start along C for the same reason.
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-6)
    model.fit(features, labels)
    return model.coef_.astype(np.float32), model.intercept_.astype(np.float32)


def heads_fit(
    train: Split,
    val: Split,
    spec: NgramSpec,
    grid: Grid,
    n_jobs: int = 2,
    log: Callable[[str], None] = lambda _: None,
) -> FitResult:
    """Fit both heads over the grid on `train`, keep the combination with the best validation
    macro recall (ties: the first in grid order)."""
    # Every fit is independent: two at a time (the machine's cores; lbfgs uses one each).
    jobs = [(train.embeddings, c) for c in grid.embedding_c] + [(train.ngrams, c) for c in grid.ngram_c]
    fitted = Parallel(n_jobs=n_jobs)(delayed(_fit)(features, train.labels, c) for features, c in jobs)
    embedding_heads = fitted[: len(grid.embedding_c)]
    # Score what the artifact will hold: its n-gram weights are float16.
    ngram_heads = [
        (coef.astype(np.float16).astype(np.float32), intercept)
        for coef, intercept in fitted[len(grid.embedding_c) :]
    ]
    log(f"fitted {len(grid.embedding_c)} embedding heads and {len(grid.ngram_c)} n-gram heads")

    best: FitResult | None = None
    scores: dict[tuple[float, float, float], float] = {}
    singles: dict[str, float] = {}
    for (ec, (e_coef, e_icpt)), (nc, (n_coef, n_icpt)) in product(
        zip(grid.embedding_c, embedding_heads, strict=True), zip(grid.ngram_c, ngram_heads, strict=True)
    ):
        for weight in (0.0, 1.0, *grid.embedding_weight):
            heads = SentimentHeads(e_coef, e_icpt, n_coef, n_icpt, spec, weight)
            score = macro_recall(val.labels, heads.proba(val.embeddings, val.ngrams).argmax(axis=1))
            if weight == 1.0:
                singles[f"embedding_c={ec:g}"] = score
            elif weight == 0.0:
                singles[f"ngram_c={nc:g}"] = score
            else:
                scores[(ec, nc, weight)] = score
                if best is None or score > best.val_macro_recall:
                    params = {"embedding_c": ec, "ngram_c": nc, "embedding_weight": weight}
                    best = FitResult(heads, params, score)
    assert best is not None, "the grid is empty"
    best.grid_scores = scores
    best.single_head_scores = singles
    return best
