"""The engagement model: how likely a segment is to engage with a message on a channel at a time.

One row of training data is a send aggregated over its recipients: (segment, channel, message
features, hour of week in the contacts' time zone) with `exposures` (deliveries) and `engagements`
(opens, clicks, replies, shares... whatever the caller counts). The model predicts the engagement
*rate*, engagements per exposure.

Objective: LightGBM's Poisson regression on the rate with the exposures as weights. Engagements are
counts, so their noise grows with their mean, and weighting by exposures is the Poisson likelihood
with an exposure offset: a send to 10,000 contacts counts 100 times as much as one to 100, and a
rate of 3/100 is not taken as seriously as 300/10,000. The log link keeps rates positive and makes
effects multiplicative (a slot that doubles engagement doubles it for every segment), which is how
timing and format effects behave. (Tweedie, `objective="tweedie"`, is there for zero-heavy data.)

Recent level: when the sends carry their time (`sent_at`), each prediction is a multiple of the
segment and channel's recent engagement (the geometric mean rate of its last `level_window` sends),
given to LightGBM as an offset (init score) so the trees learn what multiplies it; at prediction the
level is the one at the end of training. It follows drift that hours and formats alone cannot (see
`_Levels`), and it is one of the reasons ("recent engagement on email").

Features: segment, channel, tone, media type (categorical), call to action (0/1), length in
characters, the hour of the week with its day and hour of day (so trees can split on "afternoons"
across days), and the topic embedding reduced by PCA to `topic_dims` dimensions (384-dimension
embeddings as raw features make LightGBM ten times slower, DESIGN.md).

Uncertainty: a Poisson bootstrap ensemble, each member trained on the data reweighted by Poisson(1)
draws. The spread of the members' predictions is the model's uncertainty about the expected rate;
the confidence interval is their percentile spread put around the point model and widened by a scale
measured out of bag at training (the spread misses boosting's bias, see `_interval_scale`), and one
member drawn at random is a Thompson sample for exploration (Osband et al. 2016, bootstrapped
Thompson sampling). Coverage of the true rate is checked on synthetic data in the tests.

Reasons: LightGBM's `pred_contrib=True` gives exact additive contributions in log space. They are
summed per human group (timing, media type, tone...) and moved to rate units by sharing the
difference between the predicted rate and the base rate in proportion to each group's log
contribution; the shares keep each group's sign and add up to the prediction exactly.

Serialization: `to_json` / `from_json` (JSON with LightGBM's `model_to_string` texts), no pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

FORMAT = "candor-engagement/1"
CATEGORICAL: tuple[str, ...] = ("segment", "channel", "tone", "media_type")
FEATURES: tuple[str, ...] = (*CATEGORICAL, "call_to_action", "length", "hour_of_week")
TARGETS: tuple[str, ...] = ("exposures", "engagements")
# Optional: when each send went out (a datetime or any number that orders sends in time).
SENT_AT = "sent_at"
DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HOURS_OF_WEEK = 168
# Model columns, in order, and the human group each one's contribution is reported under.
_TIME_COLUMNS: tuple[str, ...] = ("hour_of_week", "day", "hour")
GROUPS: tuple[str, ...] = (*CATEGORICAL, "call_to_action", "length", "timing", "topic", "recent")

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EngagementConfig:
    """Training parameters. Defaults suit tenant data of a few hundred to a few million sends."""

    topic_dims: int = 16
    # 10 members of 80 rounds: the same accuracy and interval coverage on the synthetic tests as 16
    # of 150 at a third of the training time.
    bootstrap_models: int = 10
    confidence: float = 0.9
    num_boost_round: int = 80
    learning_rate: float = 0.1
    num_leaves: int = 15
    min_data_in_leaf: int = 10
    objective: str = "poisson"
    # The recent level: each send's prediction is a multiple of the engagement of the last
    # `level_window` earlier sends on its segment and channel (0: off). Needs a `sent_at` column.
    level_window: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in ("poisson", "tweedie"):
            raise ValueError(f"objective must be 'poisson' or 'tweedie', not {self.objective!r}")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        if self.bootstrap_models < 2:
            raise ValueError("bootstrap_models must be at least 2 (the interval needs a spread)")
        if self.level_window < 0:
            raise ValueError("level_window must be 0 (off) or more")


@dataclass(frozen=True, slots=True)
class Prediction:
    """Expected engagement rates with their confidence interval, one entry per input row."""

    rate: Array
    low: Array
    high: Array
    confidence: float


@dataclass(frozen=True, slots=True)
class Reason:
    """One group's share of a prediction: `effect` is in rate units (0.008 = +0.8 percentage points)."""

    group: str
    label: str
    effect: float

    @property
    def text(self) -> str:
        points = self.effect * 100
        verb = "adds" if points >= 0 else "takes"
        return f"{self.label} {verb} {points:+.2f} pp"


def history_key(*parts: object) -> str:
    return "|".join(str(part) for part in parts)


@dataclass(slots=True)
class History:
    """What the training data held: exposures and engagements per segment x channel, per channel x
    hour of week, per hour of week, and which slots and message formats each segment has tried.
    Recommendations read it for the "not enough data" answer, the fallback averages, and to tell
    exploration (untried) from exploitation."""

    segment_channel: dict[str, list[float]] = field(default_factory=dict)
    channel: dict[str, list[float]] = field(default_factory=dict)
    channel_hour: dict[str, list[float]] = field(default_factory=dict)
    hour: dict[str, list[float]] = field(default_factory=dict)
    tenant: list[float] = field(default_factory=lambda: [0.0, 0.0])
    slots_tried: set[str] = field(default_factory=set)
    formats_tried: set[str] = field(default_factory=set)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> History:
        def sums(keys: list[str]) -> dict[str, list[float]]:
            grouped = frame.groupby(keys, observed=True, sort=False)[["exposures", "engagements"]].sum()
            return {
                history_key(*(key if isinstance(key, tuple) else (key,))): [float(e), float(n)]
                for key, e, n in zip(grouped.index, grouped["exposures"], grouped["engagements"], strict=True)
            }

        def combinations(keys: list[str]) -> set[str]:
            return {history_key(*row) for row in frame[keys].drop_duplicates().itertuples(index=False)}

        return cls(
            segment_channel=sums(["segment", "channel"]),
            channel=sums(["channel"]),
            channel_hour=sums(["channel", "hour_of_week"]),
            hour=sums(["hour_of_week"]),
            tenant=[float(frame["exposures"].sum()), float(frame["engagements"].sum())],
            slots_tried=combinations(["segment", "channel", "hour_of_week"]),
            formats_tried=combinations(["segment", "tone", "media_type", "call_to_action"]),
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["slots_tried"] = sorted(self.slots_tried)
        data["formats_tried"] = sorted(self.formats_tried)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> History:
        return cls(
            segment_channel=dict(data["segment_channel"]),
            channel=dict(data["channel"]),
            channel_hour=dict(data["channel_hour"]),
            hour=dict(data["hour"]),
            tenant=list(data["tenant"]),
            slots_tried=set(data["slots_tried"]),
            formats_tried=set(data["formats_tried"]),
        )


def frame_validate(frame: pd.DataFrame, *, targets: bool) -> pd.DataFrame:
    """The frame with its columns checked and typed; ValueError saying what is wrong otherwise."""
    needed = (*FEATURES, *TARGETS) if targets else FEATURES
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    if frame.empty:
        raise ValueError("no rows")
    columns = [*needed, SENT_AT] if targets and SENT_AT in frame.columns else list(needed)
    out = frame.loc[:, columns].copy()
    if SENT_AT in out.columns and out[SENT_AT].isna().any():
        raise ValueError(f"{SENT_AT} must be given on every row (or not at all)")
    for name in CATEGORICAL:
        out[name] = out[name].astype(str)
    for name in ("call_to_action", "length", "hour_of_week", *(TARGETS if targets else ())):
        values = pd.to_numeric(out[name], errors="coerce")
        if values.isna().any() or (values < 0).any():
            raise ValueError(f"{name} must be a non-negative number on every row")
        out[name] = values
    out["call_to_action"] = (out["call_to_action"] > 0).astype(int)
    how = out["hour_of_week"]
    if (how != how.round()).any() or (how >= HOURS_OF_WEEK).any():
        raise ValueError("hour_of_week must be a whole number from 0 (Monday 00:00) to 167")
    out["hour_of_week"] = how.astype(int)
    if targets and (out["exposures"] <= 0).any():
        raise ValueError("exposures must be positive on every row")
    return out


def slot_label(hour_of_week: int) -> str:
    return f"{DAYS[hour_of_week // 24]} {hour_of_week % 24:02d}:00"


@dataclass(frozen=True)
class _Encoding:
    """How a validated frame (and its embeddings) becomes LightGBM's matrix: category codes learnt
    at training (unseen values become missing) and the PCA of the topic embeddings."""

    categories: dict[str, list[str]]
    pca_mean: Array | None
    pca_components: Array | None

    @property
    def columns(self) -> list[str]:
        dims = 0 if self.pca_components is None else len(self.pca_components)
        topics = [f"topic_{i}" for i in range(dims)]
        return [*CATEGORICAL, "call_to_action", "length", *_TIME_COLUMNS, *topics]

    def group_of(self) -> list[str]:
        groups = []
        for name in self.columns:
            if name in _TIME_COLUMNS:
                groups.append("timing")
            elif name.startswith("topic_"):
                groups.append("topic")
            else:
                groups.append(name)
        return groups

    def matrix(self, frame: pd.DataFrame, embeddings: Array | None) -> Array:
        n = len(frame)
        blocks = []
        for name in CATEGORICAL:
            codes = pd.Index(self.categories[name]).get_indexer(frame[name])
            blocks.append(np.where(codes >= 0, codes, np.nan))  # unseen values: -1 -> missing
        blocks.append(frame["call_to_action"].to_numpy(np.float64))
        blocks.append(frame["length"].to_numpy(np.float64))
        how = frame["hour_of_week"].to_numpy(np.int64)
        blocks += [how.astype(np.float64), (how // 24).astype(np.float64), (how % 24).astype(np.float64)]
        matrix = np.column_stack(blocks)
        if self.pca_components is None:
            return matrix
        assert self.pca_mean is not None
        if embeddings is None:
            # The typical message: the mean embedding, which is the PCA origin.
            topics = np.zeros((n, len(self.pca_components)))
        else:
            embeddings = np.asarray(embeddings, dtype=np.float64)
            if embeddings.shape != (n, len(self.pca_mean)):
                raise ValueError(f"embeddings must have shape ({n}, {len(self.pca_mean)})")
            topics = (embeddings - self.pca_mean) @ self.pca_components.T
        return np.hstack([matrix, topics])

    def as_json(self) -> dict[str, Any]:
        return {
            "categories": self.categories,
            "pca_mean": None if self.pca_mean is None else self.pca_mean.tolist(),
            "pca_components": None if self.pca_components is None else self.pca_components.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Encoding:
        mean, components = data["pca_mean"], data["pca_components"]
        return cls(
            categories={k: list(v) for k, v in data["categories"].items()},
            pca_mean=None if mean is None else np.asarray(mean, dtype=np.float64),
            pca_components=None if components is None else np.asarray(components, dtype=np.float64),
        )


def _predict(booster: lgb.Booster, matrix: Array, offset: Array, *, contrib: bool = False) -> Array:
    """Rates (exp of the raw score plus the recent level's log offset), or with `contrib` the raw
    per-column contributions and bias (the offset left out)."""
    # One thread: LightGBM's OpenMP threads made predictions 4x slower on a busy 2-core machine
    # (265 ms against 60 ms for 17 boosters x 168 rows), and callers run side by side anyway.
    if contrib:
        return np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1), dtype=np.float64)
    raw = np.asarray(booster.predict(matrix, raw_score=True, num_threads=1), dtype=np.float64)
    return np.exp(raw + offset)


@dataclass(frozen=True)
class _Levels:
    """The recent level of engagement (a log rate) per segment x channel, per channel and for the
    tenant, as of the end of training: a new send's prediction is a multiple of its level.

    Why: engagement drifts (an audience grows tired, a page's reach shrinks; on the public Facebook
    data the last fifth of the posts drew half the consumers of the earlier ones), and a model of
    hours and formats alone goes on predicting the old level. With the level as an offset (LightGBM's
    init score, in log space) the trees learn how a slot or a format multiplies the recent level,
    which carries over when the level moves. The level is the exposure-weighted geometric mean of
    the rates of the last `level_window` sends, robust to the one viral post an arithmetic mean
    follows; chosen on a validation split of the Facebook training posts (bench/engagement.py)."""

    segment_channel: dict[str, float]
    channel: dict[str, float]
    tenant: float

    def of(self, frame: pd.DataFrame) -> Array:
        keys = frame["segment"].astype(str) + "|" + frame["channel"].astype(str)
        out = keys.map(self.segment_channel)
        out = out.fillna(frame["channel"].astype(str).map(self.channel)).fillna(self.tenant)
        return out.to_numpy(np.float64)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Levels:
        return cls(dict(data["segment_channel"]), dict(data["channel"]), float(data["tenant"]))


def _trailing(
    log_rate: Array, weight: Array, groups: npt.NDArray[Any], window: int
) -> tuple[Array, dict[Any, float]]:
    """Rows in time order: per row, the weighted mean of `log_rate` over the `window` earlier rows
    of its group (NaN for a group's first row); and per group, that mean over its last rows."""
    before = np.full(len(log_rate), np.nan)
    latest: dict[Any, float] = {}
    positions = pd.Series(np.arange(len(log_rate))).groupby(np.asarray(groups), sort=False)
    for key, index in positions.indices.items():
        idx = np.asarray(index)
        total = np.concatenate([[0.0], np.cumsum(weight[idx] * log_rate[idx])])
        mass = np.concatenate([[0.0], np.cumsum(weight[idx])])
        ends = np.arange(len(idx))
        starts = np.maximum(ends - window, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            before[idx] = (total[ends] - total[starts]) / (mass[ends] - mass[starts])
        first = max(len(idx) - window, 0)
        latest[key] = float((total[-1] - total[first]) / (mass[-1] - mass[first]))
    return before, latest


def _levels_fit(valid: pd.DataFrame, window: int) -> tuple[Array, _Levels]:
    """Each training row's level (log offset) from the sends before it, and the levels to serve."""
    order = valid[SENT_AT].reset_index(drop=True).sort_values(kind="stable").index.to_numpy()
    data = valid.iloc[order]
    exposures = data["exposures"].to_numpy(np.float64)
    rate = data["engagements"].to_numpy(np.float64) / exposures
    # A send that drew nothing counts as half an engagement (the log of 0 is no level).
    log_rate = np.log(np.maximum(rate, 0.5 / exposures))
    channel = data["channel"].astype(str).to_numpy()
    pairs = (data["segment"].astype(str) + "|" + data["channel"].astype(str)).to_numpy()
    by_pair, pair_latest = _trailing(log_rate, exposures, pairs, window)
    by_channel, channel_latest = _trailing(log_rate, exposures, channel, window)
    by_tenant, tenant_latest = _trailing(log_rate, exposures, np.zeros(len(data)), window)
    overall = float(np.average(log_rate, weights=exposures))
    level = np.where(np.isnan(by_pair), by_channel, by_pair)
    level = np.where(np.isnan(level), by_tenant, level)
    level = np.where(np.isnan(level), overall, level)
    offset = np.empty(len(data))
    offset[order] = level
    return offset, _Levels(pair_latest, channel_latest, tenant_latest[0.0])


def _params(config: EngagementConfig, seed: int) -> dict[str, Any]:
    return {
        "objective": config.objective,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "lambda_l2": 1.0,
        "seed": seed,
        # Same data and seed give the same model, bit for bit (tests and audits rely on it).
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
    }


class EngagementModel:
    """A trained engagement model: the point model, its bootstrap members, the encoding, the
    training history summary and the typical message (used when the caller gives none)."""

    def __init__(
        self,
        *,
        booster: lgb.Booster,
        members: Sequence[lgb.Booster],
        encoding: _Encoding,
        history: History,
        typical: dict[str, Any],
        config: EngagementConfig,
        interval_scale: float = 1.0,
        levels: _Levels | None = None,
    ) -> None:
        self.booster = booster
        self.members = list(members)
        self.encoding = encoding
        self.history = history
        self.typical = typical
        self.config = config
        # Widening of the bootstrap interval (in log space) measured out of bag at training.
        self.interval_scale = interval_scale
        # The recent levels every prediction is a multiple of (None: trained without send times).
        self.levels = levels

    @property
    def has_topics(self) -> bool:
        return self.encoding.pca_components is not None

    def _matrix(self, frame: pd.DataFrame, embeddings: Array | None) -> tuple[Array, Array]:
        """LightGBM's matrix and each row's log offset (its segment and channel's recent level)."""
        valid = frame_validate(frame, targets=False)
        offset = self.levels.of(valid) if self.levels is not None else np.zeros(len(valid))
        return self.encoding.matrix(valid, embeddings), offset

    def predict(self, frame: pd.DataFrame, embeddings: Array | None = None) -> Prediction:
        return self.predict_with_members(frame, embeddings)[0]

    def predict_with_members(
        self, frame: pd.DataFrame, embeddings: Array | None = None
    ) -> tuple[Prediction, Array]:
        """The prediction and every bootstrap member's rates (members, rows), computed once: a
        random member's row is a Thompson sample."""
        matrix, offset = self._matrix(frame, embeddings)
        rate = _predict(self.booster, matrix, offset)
        members = np.vstack([_predict(m, matrix, offset) for m in self.members])
        tail = (1 - self.config.confidence) / 2 * 100
        # The members' percentiles, as distances (log space) from their median, widened by the
        # scale and put around the point model: members see ~63% of the rows each, so they shrink a
        # planted effect more than the point model does, and their raw percentiles can miss it.
        log_members = np.log(np.maximum(members, 1e-12))
        log_median = np.median(log_members, axis=0)
        below = log_median - np.percentile(log_members, tail, axis=0)
        above = np.percentile(log_members, 100 - tail, axis=0) - log_median
        low = rate * np.exp(-self.interval_scale * below)
        high = rate * np.exp(self.interval_scale * above)
        return Prediction(rate=rate, low=low, high=high, confidence=self.config.confidence), members

    def contributions(
        self, frame: pd.DataFrame, embeddings: Array | None = None
    ) -> tuple[Array, pd.DataFrame]:
        """(base rate per row, effects per group in rate units): base + the row's effects = predict().

        LightGBM's contributions are exact in log space (they sum to the raw score); each row's
        difference between the predicted and the base rate is shared among the groups in proportion
        to their log contributions, so every group keeps its sign and the shares sum exactly."""
        matrix, offset = self._matrix(frame, embeddings)
        raw = _predict(self.booster, matrix, offset, contrib=True)
        bias, per_column = raw[:, -1], raw[:, :-1]
        groups = self.encoding.group_of()
        log_effects = pd.DataFrame(per_column, columns=groups).T.groupby(level=0, sort=False).sum().T
        if self.levels is not None:
            # The base is the tenant's recent level; a channel's own level above or below it is the
            # "recent" group's effect.
            log_effects["recent"] = offset - self.levels.tenant
            bias = bias + self.levels.tenant
        total = log_effects.sum(axis=1).to_numpy()
        base = np.exp(bias)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(np.abs(total) > 1e-12, (np.exp(bias + total) - base) / total, base)
        effects = log_effects.mul(scale, axis=0)
        return base, effects.reindex(columns=[g for g in GROUPS if g in effects.columns])

    def reasons(
        self, frame: pd.DataFrame, embeddings: Array | None = None, *, top: int = 3
    ) -> list[list[Reason]]:
        """The `top` groups with the largest effects per row, worded for people."""
        valid = frame_validate(frame, targets=False)
        _, effects = self.contributions(valid, embeddings)
        out = []
        for i, (_, row) in enumerate(effects.iterrows()):
            ranked = row.abs().sort_values(ascending=False).index[:top]
            out.append([Reason(group, _label(group, valid.iloc[i]), float(row[group])) for group in ranked])
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "config": asdict(self.config),
                "encoding": self.encoding.as_json(),
                "history": self.history.as_json(),
                "typical": self.typical,
                "interval_scale": self.interval_scale,
                "levels": None if self.levels is None else self.levels.as_json(),
                "booster": self.booster.model_to_string(),
                "members": [m.model_to_string() for m in self.members],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> EngagementModel:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not an engagement model ({data.get('format')!r}, expected {FORMAT!r})")
        return cls(
            booster=lgb.Booster(model_str=data["booster"]),
            members=[lgb.Booster(model_str=m) for m in data["members"]],
            encoding=_Encoding.from_json(data["encoding"]),
            history=History.from_json(data["history"]),
            typical=data["typical"],
            config=EngagementConfig(**data["config"]),
            interval_scale=float(data["interval_scale"]),
            levels=None if data.get("levels") is None else _Levels.from_json(data["levels"]),
        )


def _label(group: str, row: pd.Series) -> str:
    if group == "timing":
        return f"posting {slot_label(int(row['hour_of_week']))}"
    if group == "media_type":
        return f"{row['media_type']} media"
    if group == "tone":
        return f"a {row['tone']} tone"
    if group == "call_to_action":
        return "a call to action" if row["call_to_action"] else "no call to action"
    if group == "length":
        return f"a length of {int(row['length'])} characters"
    if group == "topic":
        return "the message's topic"
    if group == "recent":
        return f"recent engagement on {row['channel']}"
    return f"{group} {row[group]}"


def _topic_pca(embeddings: Array, dims: int) -> tuple[Array, Array]:
    from sklearn.decomposition import PCA

    dims = min(dims, embeddings.shape[0], embeddings.shape[1])
    # Covariance eigenvectors, one thread: a full SVD of sends x 384 is slow and its BLAS threads
    # contend on a busy worker (see segments._space_fit).
    with threadpool_limits(limits=1):
        pca = PCA(n_components=dims, svd_solver="covariance_eigh").fit(embeddings)
    return pca.mean_.astype(np.float64), pca.components_.astype(np.float64)


def engagement_train(
    *, frame: pd.DataFrame, embeddings: Array | None = None, config: EngagementConfig | None = None
) -> EngagementModel:
    """Train the point model and its bootstrap members on aggregated sends (see the module doc).

    `frame` has FEATURES and TARGETS columns; `embeddings` (rows x dims), if given, are the messages'
    topic embeddings, reduced by PCA fitted here."""
    config = config or EngagementConfig()
    valid = frame_validate(frame, targets=True)
    categories = {name: sorted(valid[name].unique().tolist()) for name in CATEGORICAL}
    pca_mean = pca_components = None
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or len(embeddings) != len(valid):
            raise ValueError("embeddings must have one row per frame row")
        pca_mean, pca_components = _topic_pca(embeddings, config.topic_dims)
    encoding = _Encoding(categories, pca_mean, pca_components)
    matrix = encoding.matrix(valid, embeddings)
    exposures = valid["exposures"].to_numpy(np.float64)
    label = valid["engagements"].to_numpy(np.float64) / exposures
    # Weights normalised to a mean of 1: the optimum is the same, and LightGBM's hessian-based
    # limits (min_sum_hessian_in_leaf) mean the same thing whatever the send sizes are.
    weight = exposures / exposures.mean()
    categorical = list(range(len(CATEGORICAL)))
    levels = None
    offset = np.zeros(len(valid))
    if config.level_window and SENT_AT in valid.columns:
        offset, levels = _levels_fit(valid, config.level_window)

    # One Dataset, binned once; each member only swaps the weights (binning the matrix again per
    # member was a fifth of the training time at 80,000 sends).
    dataset = lgb.Dataset(
        matrix,
        label=label,
        weight=weight,
        # Only with levels: an init score turns off LightGBM's start from the average rate.
        init_score=offset if levels is not None else None,
        feature_name=encoding.columns,
        categorical_feature=categorical,
        free_raw_data=False,
        # The training parameters that shape binning must be the Dataset's own too (LightGBM
        # refuses a smaller min_data_in_leaf than the one the features were pre-filtered with).
        params={**_params(config, config.seed), "min_data_in_bin": 1},
    ).construct()

    def fit(weights: Array, seed: int) -> lgb.Booster:
        dataset.set_weight(weights)
        return lgb.train(_params(config, seed), dataset, num_boost_round=config.num_boost_round)

    booster = fit(weight, config.seed)
    rng = np.random.default_rng(config.seed)
    draws = rng.poisson(1.0, (config.bootstrap_models, len(weight)))
    members = [fit(weight * draws[i], config.seed + 1 + i) for i in range(config.bootstrap_models)]
    member_rates = np.vstack([_predict(m, matrix, offset) for m in members])
    scale = _interval_scale(
        member_rates=member_rates,
        out_of_bag=draws == 0,
        rate=_predict(booster, matrix, offset),
        label=label,
        exposures=exposures,
    )
    typical = {
        "tone": str(valid["tone"].mode().iloc[0]),
        "media_type": str(valid["media_type"].mode().iloc[0]),
        "call_to_action": int(valid["call_to_action"].mode().iloc[0]),
        "length": float(valid["length"].median()),
    }
    return EngagementModel(
        booster=booster,
        members=members,
        encoding=encoding,
        history=History.from_frame(valid),
        typical=typical,
        config=config,
        interval_scale=scale,
        levels=levels,
    )


def _interval_scale(
    *, member_rates: Array, out_of_bag: npt.NDArray[np.bool_], rate: Array, label: Array, exposures: Array
) -> float:
    """How much to widen the bootstrap interval so it covers the model's real error.

    The members' spread measures variance only; boosting's shrinkage adds bias, and a bootstrap
    interval alone covered about 2/3 of true rates at 90% on synthetic data. Each row is out of bag
    for the ~37% of members whose Poisson draw for it was 0; their mean predicts it as unseen data.
    The squared relative error of that prediction, minus the Poisson noise of the observed rate
    (rate / exposures), estimates the model's mean squared relative error (bias and variance) with no
    need to know the true rates; the scale is its ratio, in standard deviations, to the members'
    own relative spread, and never below 1."""
    counts = out_of_bag.sum(axis=0)
    seen = counts > 0
    if seen.sum() < 10:
        return 1.0
    oob = (member_rates * out_of_bag).sum(axis=0)[seen] / counts[seen]
    oob = np.maximum(oob, 1e-12)
    noise = oob / exposures[seen]
    weights = exposures[seen]
    error = np.average(((label[seen] - oob) ** 2 - noise) / oob**2, weights=weights)
    spread = np.average(member_rates.var(axis=0)[seen] / np.maximum(rate[seen], 1e-12) ** 2, weights=weights)
    if spread <= 0 or error <= spread:
        return 1.0
    return float(math.sqrt(error / spread))


def poisson_interval(engagements: float, exposures: float, confidence: float) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson rate: for fallback averages read straight off history."""
    from scipy.stats import chi2

    tail = (1 - confidence) / 2
    low = 0.0 if engagements == 0 else chi2.ppf(tail, 2 * engagements) / 2
    high = chi2.ppf(1 - tail, 2 * engagements + 2) / 2
    if exposures <= 0 or not math.isfinite(high):
        return 0.0, math.inf
    return float(low / exposures), float(high / exposures)
