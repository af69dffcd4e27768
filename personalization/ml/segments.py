"""Behavioural segmentation of contacts, with segment identities that survive retraining.

Input, one row per contact:

- `behaviour`: numeric columns. By convention `channel:<name>` is the contact's engagement rate on
  that channel and `time:<name>` on that time band (`time:morning`, `time:weekend`...), which give a
  segment its typical channel and time; any other columns (`recency_days`, `frequency_per_month`...)
  are behaviour too. Columns are standardized (z-scores), so units do not matter.
- `embeddings` (optional): each contact's interest embedding, the mean embedding of the content they
  engaged with (a row of NaN for a contact who engaged with nothing: it sits at the population
  mean). Reduced by PCA to `interest_dims`, and weighted so the interest block carries
  `interest_weight` of the total variance (the rest is behaviour).

K-means for each k in [k_min, k_max] on a seeded sample of at most `fit_sample` contacts; k is the
one with the best silhouette (on at most `silhouette_sample` of them) among those whose smallest
segment holds at least `min_size` contacts and `min_share` of them (if no k qualifies, everyone is
one segment); the chosen k is then refitted on every contact.

Stable identity: centroids are kept in raw units (behaviour means, mean interest embedding), so a
new model can place its predecessor's centroids in its own standardized space. New and previous
centroids are matched by the Hungarian algorithm (scipy's `linear_sum_assignment`) on their
RMS distance per dimension; a pair closer than `match_threshold` keeps the previous id, and any
other new segment gets a fresh id (ids are never reused: `next_id` only grows).

Each segment is described in words: size and share, typical channel and time, its most distinctive
behaviour (z-score of its mean against the population), and, when topic label embeddings are given,
the topics its interests lean to compared with everyone's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from personalization.ml.engagement import Array

FORMAT = "candor-segments/1"
CHANNEL_PREFIX = "channel:"
TIME_PREFIX = "time:"
# Local time bands of the behaviour features: (name, first hour, last hour + 1).
BANDS: tuple[tuple[str, int, int], ...] = (
    ("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24),
)  # fmt: skip
DELIVERY_COLUMNS = ("contact", "channel", "hour_of_week", "sent_at", "engaged")


@dataclass(frozen=True, slots=True)
class SegmentConfig:
    k_min: int = 2
    k_max: int = 8
    min_size: int = 20
    min_share: float = 0.02
    interest_dims: int = 8
    # A fifth of the variance: interest embeddings are noisy per contact (a mean over a few engaged
    # items), and 0.4 let that noise outvote clear behaviour groups in the pipeline test.
    interest_weight: float = 0.2
    match_threshold: float = 0.75
    silhouette_sample: int = 3000
    fit_sample: int = 20000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.k_min <= self.k_max:
            raise ValueError("need 1 <= k_min <= k_max")
        if not 0 <= self.interest_weight < 1:
            raise ValueError("interest_weight must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class SegmentDescription:
    id: int
    size: int
    share: float
    channel: str | None
    time: str | None
    distinctive: tuple[tuple[str, float], ...]  # (feature, z-score), strongest first
    interests: tuple[str, ...]
    text: str


@dataclass
class _Space:
    """Raw contact features -> the standardized, weighted space k-means works in."""

    columns: list[str]
    mean: Array
    scale: Array
    pca_mean: Array | None = None
    pca_components: Array | None = None
    interest_scale: float = 1.0

    def behaviour(self, frame: pd.DataFrame) -> Array:
        return (frame[self.columns].to_numpy(np.float64) - self.mean) / self.scale

    def interests(self, embeddings: Array) -> Array:
        assert self.pca_mean is not None and self.pca_components is not None
        filled = np.where(np.isnan(embeddings), self.pca_mean, embeddings)
        return (filled - self.pca_mean) @ self.pca_components.T * self.interest_scale

    def transform(self, frame: pd.DataFrame, embeddings: Array | None) -> Array:
        behaviour = self.behaviour(frame)
        if self.pca_components is None:
            return behaviour
        if embeddings is None:
            raise ValueError("this segment model was trained with interest embeddings: give them")
        return np.hstack([behaviour, self.interests(np.asarray(embeddings, dtype=np.float64))])

    def as_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "pca_mean": None if self.pca_mean is None else self.pca_mean.tolist(),
            "pca_components": None if self.pca_components is None else self.pca_components.tolist(),
            "interest_scale": self.interest_scale,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Space:
        def array(value: Any) -> Array | None:
            return None if value is None else np.asarray(value, dtype=np.float64)

        mean, scale = array(data["mean"]), array(data["scale"])
        assert mean is not None and scale is not None
        return cls(
            columns=list(data["columns"]),
            mean=mean,
            scale=scale,
            pca_mean=array(data["pca_mean"]),
            pca_components=array(data["pca_components"]),
            interest_scale=float(data["interest_scale"]),
        )


@dataclass
class SegmentModel:
    """Segments with stable ids: centroids in the model space and in raw units, descriptions,
    the silhouette of every k tried, and how each id was matched to the previous model."""

    ids: list[int]
    centroids: Array  # (k, model dims)
    raw_behaviour: list[dict[str, float]]  # per segment: column -> mean in raw units
    raw_interests: list[list[float] | None]  # per segment: mean interest embedding
    space: _Space
    next_id: int
    descriptions: list[SegmentDescription]
    silhouettes: dict[int, float] = field(default_factory=dict)
    matched: dict[int, float] = field(default_factory=dict)  # kept id -> distance to its predecessor

    def assign(self, behaviour: pd.DataFrame, embeddings: Array | None = None) -> npt.NDArray[np.int64]:
        """The segment id of each contact (nearest centroid)."""
        points = self.space.transform(_behaviour_validate(behaviour, self.space.columns), embeddings)
        distances = ((points[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(self.ids)[distances.argmin(axis=1)]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "ids": self.ids,
                "centroids": self.centroids.tolist(),
                "raw_behaviour": self.raw_behaviour,
                "raw_interests": self.raw_interests,
                "space": self.space.as_json(),
                "next_id": self.next_id,
                "descriptions": [asdict(d) for d in self.descriptions],
                "silhouettes": {str(k): v for k, v in self.silhouettes.items()},
                "matched": {str(k): v for k, v in self.matched.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SegmentModel:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not a segment model ({data.get('format')!r}, expected {FORMAT!r})")
        descriptions = [
            SegmentDescription(
                **{
                    **d,
                    "distinctive": tuple((name, float(z)) for name, z in d["distinctive"]),
                    "interests": tuple(d["interests"]),
                }
            )
            for d in data["descriptions"]
        ]
        return cls(
            ids=[int(i) for i in data["ids"]],
            centroids=np.asarray(data["centroids"], dtype=np.float64),
            raw_behaviour=data["raw_behaviour"],
            raw_interests=data["raw_interests"],
            space=_Space.from_json(data["space"]),
            next_id=int(data["next_id"]),
            descriptions=descriptions,
            silhouettes={int(k): float(v) for k, v in data["silhouettes"].items()},
            matched={int(k): float(v) for k, v in data["matched"].items()},
        )


def contact_features(*, deliveries: pd.DataFrame, now: datetime, window_days: int = 90) -> pd.DataFrame:
    """Behaviour features per contact (the index) from their deliveries of the last `window_days`.

    `deliveries`: one row per message delivered to a contact, with `channel`, `hour_of_week` in the
    contact's own time zone, `sent_at` (timezone-aware) and `engaged` (whether the contact opened,
    clicked, replied or shared). Out: the engagement rate on each channel (`channel:<name>`) and in
    each local time band (`time:<band>`; 0 where nothing was sent), `recency_days` since the last
    engagement (twice the window for a contact who never engaged), and `frequency_per_month`."""
    missing = [c for c in DELIVERY_COLUMNS if c not in deliveries.columns]
    if missing:
        raise ValueError(f"missing delivery columns: {', '.join(missing)}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    sent_at = pd.to_datetime(deliveries["sent_at"])
    if sent_at.dt.tz is None:
        raise ValueError("sent_at must be timezone-aware")
    recent = deliveries.loc[(sent_at >= now - timedelta(days=window_days)) & (sent_at <= now)]
    engaged = recent["engaged"].astype(bool)
    hour = recent["hour_of_week"].astype(int) % 24
    # Categoricals: grouping 1.7M deliveries by object strings took seconds longer.
    names = [name for name, _, _ in BANDS]
    edges = [first for _, first, _ in BANDS[1:]]
    band = pd.Series(
        pd.Categorical.from_codes(np.searchsorted(edges, hour.to_numpy(), side="right"), categories=names),
        index=recent.index,
    )
    channel = recent["channel"].astype(str).astype("category")
    by_channel = engaged.groupby([recent["contact"], channel], observed=True).mean().unstack(fill_value=0.0)
    by_channel.columns = [f"{CHANNEL_PREFIX}{c}" for c in by_channel.columns]
    by_band = engaged.groupby([recent["contact"], band], observed=True).mean().unstack(fill_value=0.0)
    by_band = by_band.reindex(columns=names, fill_value=0.0)
    by_band.columns = [f"{TIME_PREFIX}{c}" for c in by_band.columns]
    last = sent_at.loc[recent.index][engaged].groupby(recent["contact"][engaged]).max()
    features = by_channel.join(by_band, how="outer").fillna(0.0)
    seconds = (now - last.reindex(features.index)).dt.total_seconds()
    features["recency_days"] = (seconds / 86400).fillna(2 * window_days).to_numpy(np.float64)
    counts = engaged.groupby(recent["contact"]).sum().reindex(features.index, fill_value=0)
    features["frequency_per_month"] = counts.to_numpy(np.float64) / (window_days / 30)
    return features


def interest_embeddings(
    *,
    contacts: Sequence[Any],
    engaged_contacts: Sequence[Any],
    engaged_content: Sequence[int],
    embeddings: Array,
) -> Array:
    """Each contact's interest embedding: the mean embedding of the content they engaged with, one
    row per `contacts` entry (NaN for a contact with none). Engagement i is `engaged_contacts[i]`
    engaging with the content of row `engaged_content[i]` of `embeddings` (one row per message),
    so the embeddings are never copied per engagement: a sparse contacts x content count matrix
    times the content embeddings."""
    from scipy import sparse

    if len(engaged_contacts) != len(engaged_content):
        raise ValueError("engaged_contacts and engaged_content must have the same length")
    content = np.asarray(engaged_content, dtype=np.int64)
    if len(content) and (content.min() < 0 or content.max() >= len(embeddings)):
        raise ValueError("engaged_content must index rows of embeddings")
    position = pd.Index(contacts).get_indexer(pd.Index(engaged_contacts))
    known = position >= 0
    hits = sparse.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (position[known], content[known])),
        shape=(len(contacts), len(embeddings)),
    )
    counts = np.asarray(hits.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(hits @ np.asarray(embeddings), dtype=np.float64) / counts[:, None]


def _behaviour_validate(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"missing behaviour columns: {', '.join(missing)}")
        frame = frame.loc[:, list(columns)]
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = [str(c) for c in numeric.columns if not np.isfinite(numeric[c].to_numpy(np.float64)).all()]
    if bad:
        raise ValueError(f"behaviour columns must be finite numbers on every row: {', '.join(bad)}")
    return numeric.astype(np.float64)


def _space_fit(behaviour: pd.DataFrame, embeddings: Array | None, config: SegmentConfig) -> _Space:
    values = behaviour.to_numpy(np.float64)
    scale = values.std(axis=0)
    # A constant column carries no information; dividing by 1 keeps it at 0 for everyone.
    scale = np.where(scale > 0, scale, 1.0)
    space = _Space(columns=list(behaviour.columns), mean=values.mean(axis=0), scale=scale)
    if embeddings is None or config.interest_weight == 0:
        return space
    from sklearn.decomposition import PCA

    known = embeddings[~np.isnan(embeddings).any(axis=1)]
    if len(known) < 2:
        return space
    if len(known) > config.fit_sample:
        known = known[np.random.default_rng(config.seed).choice(len(known), config.fit_sample, replace=False)]
    dims = min(config.interest_dims, known.shape[0] - 1, known.shape[1])
    # The eigenvectors of the covariance (dims x dims) rather than an SVD of the data: the full SVD
    # of 10,000 x 384 took 23 s of wall time on a busy machine (its BLAS threads contend).
    with threadpool_limits(limits=1):
        pca = PCA(n_components=dims, svd_solver="covariance_eigh").fit(known)
    space.pca_mean = pca.mean_.astype(np.float64)
    space.pca_components = pca.components_.astype(np.float64)
    interest_variance = float(space.interests(embeddings).var(axis=0).sum())
    if interest_variance > 0:
        # Behaviour columns have unit variance each: make the interest block's total variance
        # interest_weight of the whole.
        target = config.interest_weight / (1 - config.interest_weight) * len(space.columns)
        space.interest_scale = math.sqrt(target / interest_variance)
    return space


def _choose_k(points: Array, config: SegmentConfig) -> tuple[KMeans | None, dict[int, float]]:
    """The k-means of the best k (None if no k qualifies) and the silhouette of each k tried.

    k is chosen on a seeded sample of at most `fit_sample` contacts (the choice needs the shape of
    the data, not every contact), then the chosen k is refitted on everyone from the sample's
    centroids, which converges in a few passes."""
    n = len(points)
    smallest = max(config.min_size, math.ceil(config.min_share * n))
    rng = np.random.default_rng(config.seed)
    # Every contact in order when they fit, so the labels of the fit are the contacts' labels.
    fit_rows = (
        np.arange(n) if n <= config.fit_sample else rng.choice(n, size=config.fit_sample, replace=False)
    )
    fit_points = points[fit_rows]
    sample = rng.choice(len(fit_rows), size=min(len(fit_rows), config.silhouette_sample), replace=False)
    best: KMeans | None = None
    best_score = -math.inf
    scores: dict[int, float] = {}
    # One thread for k-means and the silhouette's distances: their OpenMP/BLAS threads on a busy
    # 2-core worker were 20x slower than one (measured: 1.0 s against 0.05 s for 1,200 contacts),
    # and workers run side by side anyway.
    with threadpool_limits(limits=1):
        for k in range(max(config.k_min, 2), config.k_max + 1):
            if k * smallest > n:
                break
            fitted = KMeans(n_clusters=k, n_init=4, random_state=config.seed).fit(fit_points)
            # The size rule holds for the whole population: scale the sample's counts up.
            sizes = np.bincount(fitted.labels_, minlength=k) * (n / len(fit_rows))
            if sizes.min() < smallest:
                continue
            labels = fitted.labels_[sample]
            if len(np.unique(labels)) < 2:
                continue
            score = float(silhouette_score(fit_points[sample], labels))
            scores[k] = score
            if score > best_score:
                best, best_score = fitted, score
        if best is not None and len(fit_rows) < n:
            best = KMeans(
                n_clusters=best.n_clusters, init=best.cluster_centers_, n_init=1, random_state=config.seed
            ).fit(points)
    return best, scores


def _distance(space: _Space, old: tuple[dict[str, float], list[float] | None], new_point: Array) -> float:
    """RMS distance per dimension between a previous raw centroid and a new centroid, in the new
    model's space, over the behaviour columns both know (and the interests, if both have them)."""
    behaviour, interests = old
    diffs = []
    for i, column in enumerate(space.columns):
        if column in behaviour:
            diffs.append((behaviour[column] - space.mean[i]) / space.scale[i] - new_point[i])
    if space.pca_components is not None and interests is not None:
        projected = space.interests(np.asarray([interests], dtype=np.float64))[0]
        diffs.extend(projected - new_point[len(space.columns) :])
    if not diffs:
        return math.inf
    return float(math.sqrt(np.mean(np.square(diffs))))


_LABELS = {
    "recency_days": "days since the last engagement",
    "frequency_per_month": "engagements per month",
}


def _label(column: str) -> str:
    if column in _LABELS:
        return _LABELS[column]
    if column.startswith(CHANNEL_PREFIX):
        return f"engagement on {column.removeprefix(CHANNEL_PREFIX)}"
    if column.startswith(TIME_PREFIX):
        return f"engagement in the {column.removeprefix(TIME_PREFIX)}"
    return column.replace("_", " ")


def _describe(
    *,
    segment_id: int,
    members: pd.DataFrame,
    population: pd.DataFrame,
    interests: Array | None,
    population_interest: Array | None,
    topics: Mapping[str, Array] | None,
) -> SegmentDescription:
    size = len(members)
    share = size / len(population)
    means = members.mean()
    std = population.std(ddof=0).replace(0, np.nan)
    z = ((means - population.mean()) / std).fillna(0.0)
    channels = [c for c in population.columns if c.startswith(CHANNEL_PREFIX)]
    times = [c for c in population.columns if c.startswith(TIME_PREFIX)]
    channel = str(means[channels].idxmax()).removeprefix(CHANNEL_PREFIX) if channels else None
    time = str(means[times].idxmax()).removeprefix(TIME_PREFIX) if times else None
    ranked = z.abs().sort_values(ascending=False)
    distinctive = tuple((str(c), float(z[c])) for c in ranked.index[:3] if abs(z[c]) >= 0.5)
    names: tuple[str, ...] = ()
    if topics and interests is not None and population_interest is not None:
        lean = interests - population_interest
        if np.linalg.norm(lean) > 0:
            scores = {
                name: float(np.dot(lean, vector) / (np.linalg.norm(lean) * np.linalg.norm(vector) or 1.0))
                for name, vector in topics.items()
            }
            names = tuple(name for name, s in sorted(scores.items(), key=lambda x: -x[1])[:2] if s > 0)
    parts = [f"Segment {segment_id}: {size:,} contacts ({share:.0%})"]
    if channel:
        parts.append(f"most engaged on {channel}")
    if time:
        parts.append(f"mostly in the {time}")
    text = ", ".join(parts) + "."
    if distinctive:
        phrases = [
            f"{_label(c)} {'much ' if abs(v) >= 1 else ''}{'above' if v > 0 else 'below'} average"
            f" ({v:+.1f} sd)"
            for c, v in distinctive
        ]
        text += " Distinctive: " + "; ".join(phrases) + "."
    else:
        text += " Close to the average contact in every behaviour."
    if names:
        text += f" Leans towards {' and '.join(names)}."
    return SegmentDescription(segment_id, size, share, channel, time, distinctive, names, text)


def segments_train(
    *,
    behaviour: pd.DataFrame,
    embeddings: Array | None = None,
    previous: SegmentModel | None = None,
    topics: Mapping[str, Array] | None = None,
    config: SegmentConfig | None = None,
) -> SegmentModel:
    """Cluster contacts, keep the previous model's ids where segments persist, describe each."""
    config = config or SegmentConfig()
    frame = _behaviour_validate(behaviour)
    if frame.empty or not len(frame.columns):
        raise ValueError("need at least one contact and one behaviour column")
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or len(embeddings) != len(frame):
            raise ValueError("embeddings must have one row per contact")
    space = _space_fit(frame, embeddings, config)
    points = space.transform(frame, embeddings)
    fitted, silhouettes = _choose_k(points, config)
    if fitted is None:
        labels = np.zeros(len(points), dtype=np.int64)
        centroids = points.mean(axis=0, keepdims=True)
    else:
        labels = fitted.labels_
        centroids = fitted.cluster_centers_
    k = len(centroids)
    raw_behaviour = [frame[labels == j].mean().to_dict() for j in range(k)]
    raw_interests: list[list[float] | None] = []
    for j in range(k):
        if embeddings is None:
            raw_interests.append(None)
            continue
        rows = embeddings[labels == j]
        rows = rows[~np.isnan(rows).any(axis=1)]
        raw_interests.append(rows.mean(axis=0).tolist() if len(rows) else None)

    ids: list[int | None] = [None] * k
    matched: dict[int, float] = {}
    next_id = 1
    if previous is not None:
        next_id = previous.next_id
        cost = np.array(
            [
                [
                    _distance(space, (previous.raw_behaviour[i], previous.raw_interests[i]), centroids[j])
                    for j in range(k)
                ]
                for i in range(len(previous.ids))
            ]
        )
        finite = np.where(np.isfinite(cost), cost, 1e9)
        for i, j in zip(*linear_sum_assignment(finite), strict=True):
            if cost[i, j] <= config.match_threshold:
                ids[j] = previous.ids[i]
                matched[previous.ids[i]] = float(cost[i, j])
    final: list[int] = []
    for segment_id in ids:
        if segment_id is None:
            segment_id, next_id = next_id, next_id + 1
        final.append(segment_id)

    population_interest = None
    if embeddings is not None:
        known = embeddings[~np.isnan(embeddings).any(axis=1)]
        population_interest = known.mean(axis=0) if len(known) else None
    descriptions = [
        _describe(
            segment_id=final[j],
            members=frame[labels == j],
            population=frame,
            interests=None if raw_interests[j] is None else np.asarray(raw_interests[j]),
            population_interest=population_interest,
            topics=topics,
        )
        for j in range(k)
    ]
    order = np.argsort(final)
    return SegmentModel(
        ids=[final[j] for j in order],
        centroids=centroids[order],
        raw_behaviour=[raw_behaviour[j] for j in order],
        raw_interests=[raw_interests[j] for j in order],
        space=space,
        next_id=next_id,
        descriptions=[descriptions[j] for j in order],
        silhouettes=silhouettes,
        matched=matched,
    )
