"""Emerging topics on plain arrays (no ORM): cluster mention embeddings, name the clusters, and
carry their identity from one run to the next.

- Near-duplicates collapse first: mentions of one story (listening.nlp.dedupe) are clustered as
  one point, so a post copied a thousand times is one voice, not a topic of its own.
- Clustering is HDBSCAN (scikit-learn) on the unit vectors reduced by PCA to a few dimensions, the
  recipe of BERTopic (which uses UMAP): density clustering finds however many topics there are and
  leaves the chatter as noise, and in 16 dimensions it is fast enough for 20,000 points (about 4 s
  on this machine, where 384 dimensions take minutes). bench/topics.py measures it against KMeans.
- Names are class-based TF-IDF (Grootendorst 2022, BERTopic's c-TF-IDF): a term ranks high in a
  cluster when it is frequent there and rare across the window's other clusters and its noise,
  which is the background; stop words of the main languages are dropped, bigrams are allowed.
- Identity: the run's clusters are matched one-to-one to the topics known before by Hungarian
  assignment on centroid cosine plus term overlap, with a threshold. An unmatched cluster that is
  still close to a taken topic split from it; a known topic left unmatched but close to a cluster
  that took another topic merged into it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from stop_words import get_stop_words

Vectors = npt.NDArray[np.float32]

# HDBSCAN's smallest cluster: fewer distinct stories than this are chatter, not a topic. It grows
# with the window (one per STORIES_PER_MIN_SIZE stories): on 20,000 CrisisLexT26 tweets a fixed 8
# cut the 26 crises into 163 topics (adjusted Rand 0.30); this rule (17 there) gives 54 topics
# at 0.58, where KMeans with k chosen by silhouette scores 0.52, in half the time (bench/topics.py).
MIN_CLUSTER_SIZE = 8
STORIES_PER_MIN_SIZE = 1_000
# Dimensions HDBSCAN sees: on 3,000 CrisisLexT26 tweets, 32 separated the crises a little better
# than 16 (adjusted Rand 0.60 against 0.56) in twice the time; 8 did worse (bench/topics.py).
REDUCED_DIM = 16
# A mention belongs to a topic when its cosine to the topic's centroid reaches this. Under
# all-MiniLM-L6-v2, tweets of one theme lie at 0.67-0.9 from their cluster's centroid, tweets about
# the same brand but something else at 0.38-0.61 (the brand's name alone pulls them closer), and
# unrelated tweets below 0.1 (tests/listening/test_topics_core.py has the sentences).
ASSIGN_SIMILARITY = 0.65
# A cluster whose members lie this far from their centroid on average (in the full space) is not a
# theme: PCA folds unrelated chatter towards the origin, where HDBSCAN may find it dense.
MIN_COHERENCE = 0.4
# A cluster keeps a known topic's id when their centroids are this close (or somewhat less close
# with many shared terms); TERM_WEIGHT is the share of term overlap in the assignment score.
MATCH_SIMILARITY = 0.75
MATCH_SIMILARITY_WITH_TERMS = 0.65
MATCH_TERM_OVERLAP = 0.3
TERM_WEIGHT = 0.25
# Growth divides by at least this many mentions, so 0 -> 3 reads +300 %... of 5, not +infinity.
GROWTH_FLOOR = 5
MAX_TERMS = 10
LABEL_TERMS = 3
# The languages whose stop words are dropped from names: those of Candor's customers' markets.
# English is scikit-learn's list: the `stop-words` package's English one has 1,333 words, "page",
# "new", "problem" and "help" among them.
STOP_WORD_LANGUAGES = ("german", "french", "spanish", "italian", "dutch", "portuguese", "polish")
# Words of scikit-learn's English list that name what crises are about ("site down", "fire").
ENGLISH_KEPT = frozenset(
    [
        *("fire", "system", "bill", "down", "call", "back", "show", "serious", "computer", "interest"),
        *("detail", "found", "find", "move", "full", "empty", "top", "bottom", "front", "side", "part"),
    ]
)
# Words of social media that name nothing.
SOCIAL_STOP_WORDS = (
    "rt",
    "amp",
    "via",
    "http",
    "https",
    "www",
    "com",
    "co",
    "don",
    "t",
    "s",
    "ll",
    "ve",
    "re",
)

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+")
# Words of two letters or more, any script, not all digits; a hashtag counts as its word.
_WORD_PATTERN = r"(?u)\b(?!\d+\b)\w\w+\b"


@dataclass(frozen=True)
class Cluster:
    """A topic found in one window. `members` index the input: the items of the stories HDBSCAN
    put in the cluster (copies included), and those it left as noise that are close enough to the
    centroid."""

    members: npt.NDArray[np.intp]
    similarities: npt.NDArray[np.float32]  # of each member to the centroid
    centroid: Vectors  # unit length
    terms: list[str]

    @property
    def label(self) -> str:
        return label_for(self.terms)


@dataclass(frozen=True)
class Matching:
    """How a run's clusters relate to the topics known before (indices into the two lists)."""

    matched: dict[int, int]  # cluster -> known topic it continues
    split_from: dict[int, int]  # new cluster -> known topic it split off
    merged_into: dict[int, int]  # known topic left unmatched -> cluster that absorbed it


def label_for(terms: Sequence[str]) -> str:
    return " · ".join(terms[:LABEL_TERMS])


def unit(vectors: npt.ArrayLike) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return (array / np.where(norms == 0, 1, norms)).astype(np.float32)


def growth(*, volume: float, previous_volume: float, floor: float = GROWTH_FLOOR) -> float:
    """Relative change against the previous window: 0.5 is +50 %, -1 is gone."""
    return (volume - previous_volume) / max(previous_volume, floor)


def representatives(groups: Sequence[int | None]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Collapse items of one group (story) to its first item. Returns the representatives' indices
    and, for every item, the position of its representative among them."""
    first: dict[int, int] = {}
    reps: list[int] = []
    owner = np.empty(len(groups), dtype=np.intp)
    for i, group in enumerate(groups):
        if group is None:
            owner[i] = len(reps)
            reps.append(i)
            continue
        if group not in first:
            first[group] = len(reps)
            reps.append(i)
        owner[i] = first[group]
    return np.asarray(reps, dtype=np.intp), owner


def nearest(
    *, vectors: Vectors, centroids: Vectors, min_similarity: float = ASSIGN_SIMILARITY
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Each vector's nearest centroid by cosine, or -1 below `min_similarity`; and that cosine."""
    if len(vectors) == 0 or len(centroids) == 0:
        return np.full(len(vectors), -1, dtype=np.intp), np.zeros(len(vectors), dtype=np.float32)
    sims = unit(vectors) @ unit(centroids).T
    best = sims.argmax(axis=1)
    top = sims[np.arange(len(vectors)), best].astype(np.float32)
    return np.where(top >= min_similarity, best, -1).astype(np.intp), top


def find_topics(
    *,
    vectors: npt.ArrayLike,
    texts: Sequence[str],
    groups: Sequence[int | None],
    min_cluster_size: int | None = None,
    min_similarity: float = ASSIGN_SIMILARITY,
    seed: int = 0,
) -> list[Cluster]:
    """The topics of a window, largest first. Every item of a clustered story is a member; an
    item HDBSCAN left as noise joins the nearest cluster when it is close enough to its centroid."""
    points = unit(vectors)
    reps, owner = representatives(groups)
    if min_cluster_size is None:
        min_cluster_size = max(MIN_CLUSTER_SIZE, len(reps) // STORIES_PER_MIN_SIZE)
    if len(reps) < max(2 * min_cluster_size, 3):
        return []
    rep_points = points[reps]
    dims = min(REDUCED_DIM, len(reps) - 1, points.shape[1])
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(rep_points)
    rep_labels = _hdbscan(reduced, min_cluster_size, single=False)
    if rep_labels.max() < 0:
        # HDBSCAN never returns the whole tree as one cluster unless allowed: a window of one
        # theme (and little chatter) would have no topic at all. The coherence check below still
        # refuses a single cluster of chatter.
        rep_labels = _hdbscan(reduced, min_cluster_size, single=True)
    centroids_list: list[Vectors] = []
    kept = np.full(int(rep_labels.max()) + 2, -1, dtype=np.intp)  # old label (+1 for noise) -> new
    for c in range(int(rep_labels.max()) + 1):
        centroid = unit(rep_points[rep_labels == c].mean(axis=0))
        if float((rep_points[rep_labels == c] @ centroid).mean()) >= MIN_COHERENCE:
            kept[c] = len(centroids_list)
            centroids_list.append(centroid)
    count = len(centroids_list)
    if count == 0:
        return []
    rep_labels = kept[rep_labels]  # noise (-1) indexes the last slot, which stays -1
    centroids = np.stack(centroids_list)
    # Membership is one rule for every item: close enough to the centroid of its story's cluster,
    # else to the nearest centroid. HDBSCAN in the reduced space can take in a post that only
    # shares the brand's name; and the previous window, counted for growth, is measured by the
    # same rule. The centroids are then recomputed from the stories that passed, once, so a
    # post let in by HDBSCAN does not pull its cluster's centroid towards itself.
    labels, member_sims, keep = _membership(points, rep_labels[owner], centroids, min_similarity)
    for c in range(count):
        passed = rep_labels[keep[reps]] == c
        if passed.any():
            centroids[c] = unit(rep_points[keep[reps]][passed].mean(axis=0))
    labels, member_sims, _ = _membership(points, rep_labels[owner], centroids, min_similarity)
    # Names come from distinct stories (a copied post must not name its topic) with the noise as
    # the background the terms must stand out from.
    rep_final = labels[reps]
    documents = [" ".join(texts[r] for r in reps[rep_final == c]) for c in range(count)]
    documents.append(" ".join(texts[r] for r in reps[rep_final < 0]))
    names = distinctive_terms(documents)[:count]
    clusters = [
        Cluster(
            members=np.flatnonzero(labels == c),
            similarities=member_sims[labels == c].astype(np.float32),
            centroid=centroids[c],
            terms=names[c],
        )
        for c in range(count)
    ]
    return sorted(clusters, key=lambda cluster: -len(cluster.members))


def _membership(
    points: Vectors, labels: npt.NDArray[np.intp], centroids: Vectors, min_similarity: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Final labels, similarities to their centroid, and which items kept their HDBSCAN cluster."""
    own = np.einsum("ij,ij->i", points, centroids[np.maximum(labels, 0)])
    near, near_sims = nearest(vectors=points, centroids=centroids, min_similarity=min_similarity)
    keep = (labels >= 0) & (own >= min_similarity)
    return np.where(keep, labels, near), np.where(keep, own, near_sims).astype(np.float32), keep


def _hdbscan(
    points: npt.NDArray[np.floating], min_cluster_size: int, *, single: bool
) -> npt.NDArray[np.intp]:
    # Leaf selection: the finest stable clusters rather than the "excess of mass" ones. On 3,000
    # CrisisLexT26 tweets EOM swung between 2 and 34 clusters as the dimensions or the minimum size
    # changed, and leaf stayed at 40-47 with a better adjusted Rand index (0.556 against 0.535
    # at 16 dimensions; bench/topics.py).
    clusterer = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=max(2, min_cluster_size // 2),
        # A tree without a split has no leaf to pick: the one-theme fallback selects by EOM.
        cluster_selection_method="eom" if single else "leaf",
        allow_single_cluster=single,
        copy=True,
    )
    return np.asarray(clusterer.fit_predict(points), dtype=np.intp)


@cache
def stop_words() -> frozenset[str]:
    words: set[str] = set(SOCIAL_STOP_WORDS) | (ENGLISH_STOP_WORDS - ENGLISH_KEPT)
    for language in STOP_WORD_LANGUAGES:
        words.update(w.lower() for w in get_stop_words(language))
    # Only what the tokenizer can produce ("'ll" is never a token), so the vectorizer need not warn.
    return frozenset(w for w in words if re.fullmatch(_WORD_PATTERN, w))


def _clean(text: str) -> str:
    return _HANDLE.sub(" ", _URL.sub(" ", text)).replace("#", " ")


def distinctive_terms(documents: Sequence[str], *, max_terms: int = MAX_TERMS) -> list[list[str]]:
    """The most distinctive terms of each document (one per class) by c-TF-IDF,
    tf(t, c) / words(c) * log(1 + mean words per class / frequency of t over all classes),
    weighted by the share of t's uses that fall in c: the brand's name, said in every cluster,
    would otherwise lead every name, since it is said in nearly every mention of its cluster.
    A bigram that ranks above its own words replaces them in the list."""
    if not any(d.strip() for d in documents):
        return [[] for _ in documents]
    vectorizer = CountVectorizer(
        preprocessor=lambda text: _clean(text).lower(),
        token_pattern=_WORD_PATTERN,
        stop_words=sorted(stop_words()),
        ngram_range=(1, 2),
    )
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words
        return [[] for _ in documents]
    vocabulary = vectorizer.get_feature_names_out()
    classes_with = (counts > 0).sum(axis=0)
    # A bigram half made of a word most classes say ("acme invoice" when every cluster says acme)
    # is distinctive only through its other word, which then names the topic better alone.
    common = {str(t) for t, n in zip(vocabulary, classes_with, strict=True) if n > len(documents) / 2}
    words = counts.sum(axis=1, keepdims=True)
    tf = counts / np.where(words == 0, 1, words)
    frequency = np.maximum(counts.sum(axis=0), 1)
    idf = np.log(1 + words.mean() / frequency)
    share = counts / frequency
    # A term said once in a class does not name it (a bigram of two unrelated words, a typo).
    scores = np.where(counts >= 2, tf * idf * share, 0.0)
    names = []
    for row in scores:
        order = [i for i in np.argsort(-row, kind="stable") if row[i] > 0]
        chosen: list[str] = []
        for i in order:
            term = str(vocabulary[i])
            if " " in term and common & set(term.split()):
                continue
            if any(term in other.split() for other in chosen if " " in other):
                continue  # already said by a higher-ranked bigram
            parts = term.split()
            said = [k for k, other in enumerate(chosen) if other in parts]
            if len(parts) > 1 and said:
                # The bigram says more than its word ranked above it: it takes that word's place.
                chosen = [other for other in chosen if other not in parts]
                chosen.insert(said[0], term)
            else:
                chosen.append(term)
            if len(chosen) == max_terms:
                break
        names.append(chosen)
    return names


def term_overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard overlap of two term lists, on their words (so "status page" meets "status")."""
    left = {w for term in a for w in term.split()}
    right = {w for term in b for w in term.split()}
    return len(left & right) / len(left | right) if left and right else 0.0


def match_topics(
    *,
    known_centroids: npt.ArrayLike,
    known_terms: Sequence[Sequence[str]],
    centroids: npt.ArrayLike,
    terms: Sequence[Sequence[str]],
) -> Matching:
    """Match this run's clusters to the known topics, one to one, maximising
    (1 - TERM_WEIGHT) * cosine + TERM_WEIGHT * term overlap over the pairs close enough."""
    if len(known_terms) == 0 or len(terms) == 0:
        return Matching(matched={}, split_from={}, merged_into={})
    known = unit(known_centroids).reshape(len(known_terms), -1)
    current = unit(centroids).reshape(len(terms), -1)
    cosine = current @ known.T
    overlap = np.array([[term_overlap(t, k) for k in known_terms] for t in terms]).reshape(cosine.shape)
    eligible = (cosine >= MATCH_SIMILARITY) | (
        (cosine >= MATCH_SIMILARITY_WITH_TERMS) & (overlap >= MATCH_TERM_OVERLAP)
    )
    score = (1 - TERM_WEIGHT) * cosine + TERM_WEIGHT * overlap
    rows, cols = linear_sum_assignment(np.where(eligible, -score, 0.0))
    matched = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if eligible[r, c]}
    taken = set(matched.values())
    split_from = {}
    for r in range(len(current)):
        if r not in matched and eligible[r].any():
            split_from[r] = int(np.argmax(np.where(eligible[r], score[r], -np.inf)))
    merged_into = {}
    absorbing = np.array([r in matched for r in range(len(current))])
    for c in range(len(known)):
        candidates = eligible[:, c] & absorbing
        if c not in taken and candidates.any():
            merged_into[c] = int(np.argmax(np.where(candidates, score[:, c], -np.inf)))
    return Matching(matched=matched, split_from=split_from, merged_into=merged_into)
