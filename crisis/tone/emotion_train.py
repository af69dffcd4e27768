"""Training and evaluation of the emotion head (`manage.py train_tone`, `bench/tone.py`): pure
functions over texts, labels and arrays.

The data is TweetEval's emotion task (`train_text.txt`/`train_labels.txt`, `val_*`, `mapping.txt`:
one tweet and one label code per line). The regularisation is chosen by stratified 5-fold
cross-validation on the training split alone; the validation split is only ever scored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from crisis.tone.emotion import LABELS

C_GRID: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)
FOLDS = 5
SEED = 7

# The keyword baseline: a few obvious words per emotion, as a hand-built lexicon would start. A tweet
# gets the emotion with the most hits, the majority label when none (or a tie) is hit.
BASELINE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "anger": ("angry", "anger", "furious", "mad", "rage", "hate", "annoyed", "annoying", "pissed", "outrage",
              "fuming", "irritated", "disgusting", "offended", "terrible", "worst"),
    "joy": ("happy", "joy", "love", "lol", "fun", "glad", "excited", "amazing", "delighted", "laugh",
            "hilarious", "smile", "awesome", "cheerful"),
    "optimism": ("hope", "hopeful", "optimism", "optimistic", "believe", "faith", "future", "success",
                 "motivation", "positive", "inspire", "dream", "strong", "better"),
    "sadness": ("sad", "sadness", "depressed", "depressing", "depression", "cry", "crying", "miss", "lonely",
                "grief", "sorrow", "heartbroken", "unhappy", "lost", "tears", "upset"),
}  # fmt: skip
_WORD_RE = re.compile(r"[#@]?(\w+)")


@dataclass(frozen=True)
class EmotionSplit:
    texts: list[str]
    labels: npt.NDArray[np.int64]  # indexes into LABELS


def emotion_split_load(folder: Path, split: str) -> EmotionSplit:
    """One split (`train` or `val`) of the TweetEval emotion folder, labels mapped to LABELS order."""
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    codes = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    mapping = dict(line.split("\t") for line in (folder / "mapping.txt").read_text().splitlines() if line)
    if len(texts) != len(codes):
        raise ValueError(f"{folder}: {len(texts)} {split} texts but {len(codes)} labels")
    unknown = set(mapping.values()) - set(LABELS)
    if unknown:
        raise ValueError(f"{folder}/mapping.txt names labels this model does not know: {sorted(unknown)}")
    labels = np.array([LABELS.index(mapping[code]) for code in codes], dtype=np.int64)
    return EmotionSplit([text.strip() for text in texts], labels)


def macro_f1(truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]) -> float:
    """F1 averaged over the four emotions (TweetEval's measure for this task)."""
    return float(f1_score(truth, predicted, labels=list(range(len(LABELS))), average="macro"))


def majority_predict(train_labels: npt.NDArray[np.int64], count: int) -> npt.NDArray[np.int64]:
    """The training split's most frequent label, `count` times."""
    return np.full(count, int(np.bincount(train_labels, minlength=len(LABELS)).argmax()), dtype=np.int64)


def keyword_predict(texts: list[str], fallback: int) -> npt.NDArray[np.int64]:
    """The keyword baseline (BASELINE_KEYWORDS); `fallback` where no emotion wins outright."""
    lexicon = {word: LABELS.index(label) for label, words in BASELINE_KEYWORDS.items() for word in words}
    predicted = []
    for text in texts:
        hits = np.zeros(len(LABELS), dtype=np.int64)
        for word in _WORD_RE.findall(text.lower()):
            if word in lexicon:
                hits[lexicon[word]] += 1
        best = np.flatnonzero(hits == hits.max())
        predicted.append(int(best[0]) if hits.max() > 0 and len(best) == 1 else fallback)
    return np.array(predicted, dtype=np.int64)


@dataclass(frozen=True)
class HeadFit:
    coef: npt.NDArray[np.float32]
    intercept: npt.NDArray[np.float32]
    c: float
    cv_macro_f1: dict[float, float]  # C -> mean macro-F1 over the folds


def _logistic(c: float) -> LogisticRegression:
    # Balanced class weights: the measure is macro-F1 and optimism is 9% of the tweets.
    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-6)


def head_fit(embeddings: npt.NDArray[np.floating[Any]], labels: npt.NDArray[np.int64]) -> HeadFit:
    """Choose C on C_GRID by stratified cross-validation, then fit on the whole training split."""
    folds = list(StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(embeddings, labels))
    scores: dict[float, float] = {}
    for c in C_GRID:
        fold_scores = []
        for train_idx, test_idx in folds:
            model = _logistic(c).fit(embeddings[train_idx], labels[train_idx])
            fold_scores.append(macro_f1(labels[test_idx], model.predict(embeddings[test_idx])))
        scores[c] = float(np.mean(fold_scores))
    best = max(C_GRID, key=lambda c: scores[c])  # ties: the first, the most regularised
    model = _logistic(best).fit(embeddings, labels)
    return HeadFit(model.coef_.astype(np.float32), model.intercept_.astype(np.float32), best, scores)
