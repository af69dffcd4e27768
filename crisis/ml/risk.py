"""The crisis-risk scorer: calibrated probabilities of a crisis within 6 h and 24 h, a 0-100 score
with factor contributions that add up to it, per-tenant recalibration, and the alert policy.

**Model.** Two global LightGBM models (one per horizon) on the causal features of `features.py`,
trained by `manage.py train_risk_model` and stored as LightGBM text plus a JSON metadata file (no
pickle). A model's raw output is a margin `m` in log-odds.

**Calibration** is Platt scaling on that margin, `p = sigmoid(a * m + b)`, fitted on out-of-fold
margins of the training series (the training command reports Brier, ECE and the reliability table
on held-out series). Platt keeps the calibrated log-odds linear in the margin, which is what makes
the decomposition below exact; a tenant's own calibration is the same two numbers refitted on its
history of declared incidents (`calibration_fit`), shrunk towards the global ones and used only from
`MIN_TENANT_INCIDENTS` incidents on.

**Score and factors.** `score = 100 * p_6h`. LightGBM's TreeSHAP (`pred_contrib`) splits the margin
exactly: `m = phi_0 + sum_i phi_i`. Calibrated, `logit = (a * phi_0 + b) + sum_i a * phi_i`. The base
score is `S_0 = 100 * sigmoid(a * phi_0 + b)` (the score of an average moment), and each feature gets
the share of `score - S_0` that its term has of `logit - logit_0`:

    points_i = a * phi_i * (score - S_0) / (logit - logit_0)

so `S_0 + sum_i points_i = score` exactly (when `logit == logit_0` the slope of the sigmoid there is
used: the terms then sum to zero, as does `score - S_0`). Points of the features of one factor
(`features.FACTORS`) are added up: "volume vs baseline +31.2, negative share +12.5, ...".

**Alerts.** `AlertPolicy`: an alert is raised when the score reaches `threshold` while no alert is
active and the last one is at least `cooldown_minutes` old; it stays active until the score falls
below `release` (hysteresis), so a score hovering at the threshold raises one alert, not dozens.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from crisis.ml.features import FACTORS, FEATURE_NAMES, FEATURES, FeatureState, Signals

ARTIFACT_PATH = Path(__file__).resolve().parent / "artifacts" / "risk-v1.json"
ARTIFACT_FORMAT = "candor-crisis-risk/1"
HORIZONS: tuple[str, str] = ("6h", "24h")
HORIZON_HOURS = {"6h": 6, "24h": 24}
# One thread: the scorer mostly sees one bucket at a time, and LightGBM's OpenMP team for a single
# row costs far more than the row (about 30 ms a row instead of 0.1 ms on a busy 2-core machine).
PREDICT_THREADS = 1
MIN_TENANT_INCIDENTS = 3
# How strongly a tenant's calibration is pulled towards the global one: the weight of a Gaussian
# prior on (slope, intercept), in units of "rows of evidence". A tenant with years of history
# moves far from it; one with three incidents a little.
TENANT_PRIOR_STRENGTH = 200.0

FloatArray = npt.NDArray[np.float64]


def _sigmoid(x: FloatArray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt scaling of a margin: p = sigmoid(slope * margin + intercept)."""

    slope: float
    intercept: float
    incidents: int | None = None  # None for the global calibration, else the tenant's incident count

    def logit(self, margins: FloatArray) -> FloatArray:
        return self.slope * np.asarray(margins, dtype=np.float64) + self.intercept

    def probability(self, margins: FloatArray) -> FloatArray:
        return np.asarray(_sigmoid(self.logit(margins)), dtype=np.float64)


def calibration_fit(
    margins: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    prior: Calibration | None = None,
    prior_strength: float = 0.0,
    incidents: int | None = None,
) -> Calibration:
    """Fit Platt scaling by Newton's method on the log-loss, with an optional Gaussian prior centred
    on `prior` (penalty `prior_strength / 2 * ((a - a0)^2 + (b - b0)^2)`)."""
    m = np.asarray(margins, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    centre = np.array([prior.slope, prior.intercept]) if prior else np.array([1.0, 0.0])
    # Without a prior a tiny ridge keeps separable data (all positives above all negatives) finite.
    strength = prior_strength if prior is not None else 1e-6
    params = centre.copy()
    design = np.column_stack([m, np.ones_like(m)])
    for _ in range(100):
        p = _sigmoid(design @ params)
        gradient = design.T @ (p - y) + strength * (params - centre)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + strength * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        params -= step
        if np.abs(step).max() < 1e-10:
            break
    return Calibration(slope=float(params[0]), intercept=float(params[1]), incidents=incidents)


def horizon_labels(
    timestamps: npt.NDArray[np.float64], onsets: list[float], *, hours: float, after_hours: float = 1.0
) -> npt.NDArray[np.int8]:
    """1 where a crisis starts within the next `hours` or started less than `after_hours` ago
    (epoch seconds in, so callers on pandas or datetimes share it)."""
    labels = np.zeros(len(timestamps), dtype=np.int8)
    for onset in onsets:
        labels[(timestamps >= onset - hours * 3600) & (timestamps <= onset + after_hours * 3600)] = 1
    return labels


def tenant_calibration(
    *,
    margins: npt.ArrayLike,
    timestamps: Sequence[datetime],
    incident_starts: Sequence[datetime],
    global_calibration: Calibration,
    horizon: str = "6h",
    min_incidents: int = MIN_TENANT_INCIDENTS,
) -> Calibration:
    """A tenant's calibration, fitted on its own history (the margins the model gave its buckets,
    and when its declared incidents started); the global one below `min_incidents` incidents."""
    if len(incident_starts) < min_incidents:
        return global_calibration
    stamps = np.array([ts.timestamp() for ts in timestamps], dtype=np.float64)
    labels = horizon_labels(stamps, [ts.timestamp() for ts in incident_starts], hours=HORIZON_HOURS[horizon])
    return calibration_fit(
        margins,
        labels,
        prior=global_calibration,
        prior_strength=TENANT_PRIOR_STRENGTH,
        incidents=len(incident_starts),
    )


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    threshold: float  # score at which an alert is raised
    release: float  # an active alert ends when the score falls below this
    cooldown_minutes: float  # no new alert within this time of the last one


class AlertState:
    """The alert policy applied online, one score at a time."""

    def __init__(self, policy: AlertPolicy) -> None:
        self.policy = policy
        self.active = False
        self.last_raised: datetime | None = None

    def update(self, timestamp: datetime, score: float) -> bool:
        """Feed the next score; True when this row raises an alert."""
        if self.active and score < self.policy.release:
            self.active = False
        if self.active or score < self.policy.threshold:
            return False
        cooldown = timedelta(minutes=self.policy.cooldown_minutes)
        if self.last_raised is not None and timestamp - self.last_raised < cooldown:
            return False
        self.active = True
        self.last_raised = timestamp
        return True

    def dump(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "last_raised": self.last_raised.isoformat() if self.last_raised else None,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.active = bool(data["active"])
        self.last_raised = datetime.fromisoformat(data["last_raised"]) if data["last_raised"] else None


def alerts_compute(timestamps: list[datetime], scores: npt.ArrayLike, policy: AlertPolicy) -> list[bool]:
    state = AlertState(policy)
    return [state.update(ts, float(score)) for ts, score in zip(timestamps, np.asarray(scores), strict=True)]


@dataclass(frozen=True, slots=True)
class RiskScore:
    score: float  # 0-100: 100 x the calibrated probability of a crisis within 6 h
    probability_6h: float
    probability_24h: float
    base: float  # the score of an average moment; base + sum(factors) == score
    factors: dict[str, float]  # factor -> score points
    # The models' raw log-odds: keep them with the score, a tenant's recalibration is fitted on them.
    margin_6h: float
    margin_24h: float
    features: dict[str, float] = field(default_factory=dict)


def score_decompose(
    contributions: FloatArray, calibration: Calibration
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(scores, base scores, points per feature) from TreeSHAP rows `[phi_1..phi_k, phi_0]`."""
    phi = np.asarray(contributions, dtype=np.float64)
    terms = calibration.slope * phi[:, :-1]
    base_logit = calibration.slope * phi[:, -1] + calibration.intercept
    logit = base_logit + terms.sum(axis=1)
    score = 100.0 * _sigmoid(logit)
    base = 100.0 * _sigmoid(base_logit)
    gap = logit - base_logit
    flat = np.abs(gap) < 1e-9
    ratio = np.where(flat, 100.0 * _sigmoid(base_logit) * (1 - _sigmoid(base_logit)), 0.0)
    ratio = np.where(flat, ratio, (score - base) / np.where(flat, 1.0, gap))
    return score, base, terms * ratio[:, None]


class RiskModel:
    """The global model: two boosters, their calibrations, the alert policy and the metadata."""

    _cache: dict[Path, RiskModel] = {}
    _lock = threading.Lock()

    def __init__(
        self,
        boosters: dict[str, lgb.Booster],
        calibrations: dict[str, Calibration],
        policy: AlertPolicy,
        metadata: dict[str, Any],
    ) -> None:
        self.boosters = boosters
        self.calibrations = calibrations
        self.policy = policy
        self.metadata = metadata
        self.version: str = metadata.get("version", "")

    @classmethod
    def load(cls, path: Path = ARTIFACT_PATH) -> RiskModel:
        """The model of the artifact at `path`, read once per process."""
        path = path.resolve()
        with cls._lock:
            if path not in cls._cache:
                cls._cache[path] = cls.read(path)
            return cls._cache[path]

    @classmethod
    def read(cls, path: Path) -> RiskModel:
        metadata = json.loads(path.read_text())
        if metadata.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"{path}: not a {ARTIFACT_FORMAT} artifact")
        if list(metadata["features"]) != list(FEATURE_NAMES):
            raise ValueError(f"{path}: trained on other features than this code computes; retrain it")
        boosters = {}
        for horizon in HORIZONS:
            entry = metadata["models"][horizon]
            text = (path.parent / entry["file"]).read_text()
            if hashlib.sha256(text.encode()).hexdigest() != entry["sha256"]:
                raise ValueError(f"{path}: {entry['file']} does not match its recorded SHA-256")
            boosters[horizon] = lgb.Booster(model_str=text)
        calibrations = {h: Calibration(**metadata["models"][h]["calibration"]) for h in HORIZONS}
        return cls(boosters, calibrations, AlertPolicy(**metadata["alert_policy"]), metadata)

    def write(self, path: Path) -> None:
        """Write the boosters (LightGBM text) next to the metadata JSON at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        models = {}
        for horizon, booster in self.boosters.items():
            name = f"{path.stem}.{horizon}.txt"
            text = booster.model_to_string()
            (path.parent / name).write_text(text)
            models[horizon] = {
                **self.metadata["models"][horizon],
                "file": name,
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "calibration": asdict(self.calibrations[horizon]),
            }
        self.metadata = {
            **self.metadata,
            "format": ARTIFACT_FORMAT,
            "features": list(FEATURE_NAMES),
            "factors": {name: factor for name, factor in FEATURES},
            "models": models,
            "alert_policy": asdict(self.policy),
        }
        path.write_text(json.dumps(self.metadata, indent=1, sort_keys=True) + "\n")

    def margins(self, features: FloatArray, horizon: str) -> FloatArray:
        margins = self.boosters[horizon].predict(features, raw_score=True, num_threads=PREDICT_THREADS)
        return np.asarray(margins, dtype=np.float64)

    def scores(self, features: FloatArray, calibration: Calibration | None = None) -> FloatArray:
        """The 0-100 scores of many rows at once (the backtest's path: no contributions)."""
        if len(features) == 0:
            return np.empty(0)
        calibration = calibration or self.calibrations["6h"]
        return 100.0 * calibration.probability(self.margins(features, "6h"))

    def explain(
        self,
        features: FloatArray,
        *,
        calibration_6h: Calibration | None = None,
        calibration_24h: Calibration | None = None,
    ) -> list[RiskScore]:
        """Scores with probabilities and factor points (production's path: every 5 minutes)."""
        if len(features) == 0:
            return []
        calibration_6h = calibration_6h or self.calibrations["6h"]
        calibration_24h = calibration_24h or self.calibrations["24h"]
        contributions = np.asarray(
            self.boosters["6h"].predict(features, pred_contrib=True, num_threads=PREDICT_THREADS)
        )
        scores, bases, points = score_decompose(contributions, calibration_6h)
        margins_6h = contributions.sum(axis=1)
        margins_24h = self.margins(features, "24h")
        p24 = calibration_24h.probability(margins_24h)
        factor_index = {factor: [i for i, (_, f) in enumerate(FEATURES) if f == factor] for factor in FACTORS}
        results = []
        for row in range(len(features)):
            factors = {factor: float(points[row, idx].sum()) for factor, idx in factor_index.items()}
            results.append(
                RiskScore(
                    score=float(scores[row]),
                    probability_6h=float(scores[row] / 100.0),
                    # A crisis within 6 h is also one within 24 h: the two models are separate, so
                    # the 24 h probability is held at least at the 6 h one.
                    probability_24h=float(max(p24[row], scores[row] / 100.0)),
                    base=float(bases[row]),
                    factors=factors,
                    margin_6h=float(margins_6h[row]),
                    margin_24h=float(margins_24h[row]),
                    features={
                        name: float(value)
                        for name, value in zip(FEATURE_NAMES, features[row], strict=True)
                        if math.isfinite(value)
                    },
                )
            )
        return results


class RiskStream:
    """One series scored online: bucket in, (score, alert raised) out. Production and `backtest_risk`
    both feed buckets through this, in time order."""

    def __init__(
        self,
        model: RiskModel,
        *,
        calibration: Calibration | None = None,
        policy: AlertPolicy | None = None,
        state: FeatureState | None = None,
    ) -> None:
        self.model = model
        self.calibration = calibration or model.calibrations["6h"]
        self.features = state or FeatureState()
        self.alerts = AlertState(policy or model.policy)

    def dump(self) -> dict[str, Any]:
        """The stream's state as JSON-ready data: production keeps it between 5-minute runs."""
        return {"features": self.features.dump(), "alerts": self.alerts.dump()}

    @classmethod
    def restore(
        cls, model: RiskModel, data: dict[str, Any], *, calibration: Calibration | None = None
    ) -> RiskStream:
        stream = cls(model, calibration=calibration, state=FeatureState.restore(data["features"]))
        stream.alerts.load(data["alerts"])
        return stream

    def update(self, signals: Signals) -> tuple[float, bool]:
        vector = self.features.update(signals)
        score = float(self.model.scores(vector[None, :], self.calibration)[0])
        return score, self.alerts.update(signals.timestamp, score)
