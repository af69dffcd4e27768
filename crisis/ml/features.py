"""Causal features of a 5-minute signal series, computed online: one `FeatureState.update` per bucket.

Production feeds a tenant's latest bucket every 5 minutes (keeping the state between runs through
`dump`/`restore`), and `backtest_risk` and training feed a whole series row by row through the same
object, so every feature of a row is a function of that row and the rows before it, never later
ones (`tests/crisis/test_risk.py` checks it).

Every feature is scale-free: a ratio to the series' own level or a share, never an absolute count.
A brand with 10x the mentions and the same shape gets the same features (`tests/crisis/test_risk.py`
checks it), so what the model learns on one series transfers to series of any size. (An absolute
`log1p(volume)` feature cost 14 points of leave-one-file-out NAB score: with it the model learnt
each training file's size, and scored a big brand's ordinary hours like a small one's crisis.)

Volume is the only required signal. Every other one is optional per bucket; a missing one gives NaN
features, which LightGBM routes down its learned "missing" branch.

The baseline is additive on log1p(volume), as in Holt-Winters: a robust level (which follows growth
over days) plus a learned offset per hour of the week (168 slots: time of day x day of week). Both
are updated with Huber-clipped innovations, so a surge moves them by at most a few spreads per row:
a crisis does not become its own baseline within the hour. The spread is the larger of the robust
residual spread and Poisson noise at the expected count, so a quiet brand's 3 -> 7 mentions is not a
surge.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

BUCKET_MINUTES = 5
SLOTS = 7 * 24

# (feature, factor): the factor is the named group a feature's contribution is reported under.
FEATURES: tuple[tuple[str, str], ...] = (
    ("volume_vs_level", "volume_level"),  # the last hour against the level, without the hour-of-week offsets
    ("volume_vs_baseline", "volume_vs_baseline"),
    ("volume_z", "volume_vs_baseline"),
    ("volume_z_30m", "volume_vs_baseline"),
    ("volume_z_max_1h", "volume_vs_baseline"),
    ("volume_excess_3h", "sustained_surge"),
    ("volume_excess_12h", "sustained_surge"),
    ("acceleration_15m_1h", "acceleration"),
    ("acceleration_1h_6h", "acceleration"),
    ("negative_share", "negative_share"),
    ("negative_share_change", "negativity_change"),
    ("reach_negativity", "reach_negativity"),
    ("reach_negativity_change", "reach_negativity"),
    ("crisis_language_share", "crisis_language"),
    ("crisis_language_change", "crisis_language"),
    ("topic_novelty", "topic_novelty"),
    ("press_share", "press_reach"),
    ("press_share_change", "press_reach"),
    ("history_days", "history"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
FACTORS: tuple[str, ...] = tuple(dict.fromkeys(factor for _, factor in FEATURES))

# Half-lives in minutes of the exponentially weighted levels.
_HL_15M, _HL_30M, _HL_1H, _HL_3H, _HL_6H, _HL_12H = 15.0, 30.0, 60.0, 180.0, 360.0, 720.0
_HL_LEVEL = 3 * 24 * 60.0  # the robust level and spread, and the "usual" shares
_SLOT_ALPHA_MIN = 0.05  # each slot remembers about its last 20 visits (~2 weeks of that hour)
_SLOT_PRIOR = 12  # visits before a slot's offset counts fully (one hour of one weekday)
_HUBER = 3.0  # innovations are clipped at this many spreads
_SPREAD_FLOOR = 0.05
# History is a warm-up indicator only ("is the baseline learned yet?"): capped at 3 days, so the
# model cannot learn when in a series the training data happened to place its crises.
_HISTORY_CAP_DAYS = 3.0

# Words of crises as IT companies live them, in the languages listening detects most (en, de, fr,
# es, it, pt, nl). Prefixes match inflections (`hack` -> hacked, hacker; `rembours` -> remboursez).
CRISIS_LEXICON: dict[str, tuple[str, ...]] = {
    "en": (
        "outage",
        "down",
        "not working",
        "broken",
        "breach",
        "leak",
        "hack",
        "ransomware",
        "stolen",
        "refund",
        "lawsuit",
        "sue",
        "class action",
        "scam",
        "fraud",
        "boycott",
        "recall",
        "vulnerab",
        "exploit",
        "compromised",
        "layoff",
        "fired",
        "resign",
        "scandal",
        "apolog",
        "furious",
        "disgrace",
        "unacceptable",
        "data loss",
        "phishing",
        "cancel my",
    ),
    "de": (
        "ausfall",
        "störung",
        "stoerung",
        "datenleck",
        "datenpanne",
        "gehackt",
        "hacker",
        "erstattung",
        "klage",
        "betrug",
        "boykott",
        "sicherheitslücke",
        "entlassung",
        "kündig",
        "skandal",
        "rückruf",
        "funktioniert nicht",
    ),
    "fr": (
        "panne",
        "fuite",
        "piraté",
        "pirate",
        "rembours",
        "procès",
        "plainte",
        "arnaque",
        "fraude",
        "boycott",
        "faille",
        "licenci",
        "scandale",
        "rappel",
        "ne marche pas",
        "inadmissible",
    ),
    "es": (
        "caída",
        "caido",
        "no funciona",
        "filtración",
        "hackead",
        "reembols",
        "demanda",
        "estafa",
        "fraude",
        "boicot",
        "vulnerabilidad",
        "despido",
        "escándalo",
        "inaceptable",
    ),
    "it": (
        "disservizio",
        "non funziona",
        "violazione",
        "rimbors",
        "causa legale",
        "truffa",
        "frode",
        "boicott",
        "licenziament",
        "scandalo",
        "inaccettabile",
    ),
    "pt": (
        "fora do ar",
        "instabilidade",
        "vazamento",
        "hackead",
        "reembolso",
        "processo",
        "golpe",
        "fraude",
        "boicote",
        "demiss",
        "escândalo",
        "inaceitável",
    ),
    "nl": (
        "storing",
        "datalek",
        "gehackt",
        "terugbetal",
        "rechtszaak",
        "oplichting",
        "fraude",
        "boycot",
        "ontslag",
        "schandaal",
        "werkt niet",
        "onacceptabel",
    ),
}
# A term starts at a word boundary; prefixes are allowed to continue (`hack` matches `hacked`), but
# short whole words must end too (`sue` is not `suede`, `down` is not `download`).
_WHOLE_WORDS = {"down", "sue", "fired", "leak", "hack", "panne", "golpe", "processo", "demanda"}
_CRISIS_RE = re.compile(
    "|".join(
        rf"\b{re.escape(term)}\b" if term in _WHOLE_WORDS or " " in term else rf"\b{re.escape(term)}"
        for terms in CRISIS_LEXICON.values()
        for term in terms
    ),
    re.IGNORECASE,
)


def crisis_language_match(text: str) -> bool:
    """Whether a mention uses crisis language (the bucket's `crisis_language` counts these)."""
    return _CRISIS_RE.search(text) is not None


@dataclass(frozen=True, slots=True)
class Signals:
    """One 5-minute bucket of a tenant's (or a series') listening signals.

    Counts are mentions in the bucket; shares are fractions of the bucket's mentions or reach. Only
    `volume` is required."""

    timestamp: datetime  # the bucket's start, timezone-aware
    volume: float
    negative: float | None = None  # mentions classified negative
    reach_negativity: float | None = None  # negative mentions' share of the bucket's reach, 0..1
    crisis_language: float | None = None  # mentions matching the crisis lexicon
    novelty: float | None = None  # share of mentions in topics unseen the week before, 0..1
    press: float | None = None  # mentions by press or high-reach authors


def _decay(minutes: float, half_life: float) -> float:
    return 0.5 ** (minutes / half_life)


class _Ewm:
    """A time-decayed mean (None until the first value)."""

    __slots__ = ("value",)

    def __init__(self, value: float | None = None) -> None:
        self.value = value

    def update(self, x: float, decay: float) -> float:
        self.value = x if self.value is None else decay * self.value + (1.0 - decay) * x
        return self.value


class FeatureState:
    """The online state of one series. `update` takes buckets in strictly increasing time order."""

    def __init__(self) -> None:
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.level: float | None = None
        self.rows = 0
        self.spread = 0.5
        self.offsets = np.zeros(SLOTS)
        self.visits = np.zeros(SLOTS, dtype=np.int64)
        self.means = {hl: _Ewm() for hl in (_HL_15M, _HL_1H, _HL_6H)}
        self.z_30m = _Ewm()
        self.excess = {hl: _Ewm() for hl in (_HL_3H, _HL_12H)}
        self.recent_z: deque[tuple[float, float]] = deque()  # (epoch minutes, z) of the last hour
        # Exponentially weighted sums (count signals: share = sum(signal) / sum(volume) over the
        # same weights) and means (share signals), short (1 h) and usual (3 days).
        self.sums: dict[str, list[float]] = {}
        self.share_means: dict[str, list[float]] = {}

    def update(self, row: Signals) -> npt.NDArray[np.float64]:
        """Feed the next bucket; return its feature vector (in `FEATURE_NAMES` order)."""
        ts = row.timestamp
        if ts.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        if not math.isfinite(row.volume) or row.volume < 0:
            raise ValueError(f"volume must be a finite number >= 0, not {row.volume!r}")
        if self.last is not None and ts <= self.last:
            raise ValueError(f"bucket {ts.isoformat()} is not after {self.last.isoformat()}")
        minutes = BUCKET_MINUTES if self.last is None else (ts - self.last).total_seconds() / 60.0
        if self.first is None:
            self.first = ts
        self.last = ts
        now = ts.timestamp() / 60.0

        x = math.log1p(row.volume)
        slot = ts.astimezone(UTC).weekday() * 24 + ts.astimezone(UTC).hour
        if self.level is None:
            self.level = x
        weight = self.visits[slot] / (self.visits[slot] + _SLOT_PRIOR)
        expected = self.level + weight * self.offsets[slot]
        expected_count = math.expm1(max(expected, 0.0))
        # Poisson noise on the log1p scale: sd(log1p(N)) ~ sqrt(lambda) / (lambda + 1).
        spread = max(self.spread * 1.4826, math.sqrt(expected_count) / (expected_count + 1.0), _SPREAD_FLOOR)
        residual = x - expected
        z = residual / spread

        levels = {hl: ewm.update(x, _decay(minutes, hl)) for hl, ewm in self.means.items()}
        features = [
            levels[_HL_1H] - self.level,
            residual,
            z,
            self.z_30m.update(z, _decay(minutes, _HL_30M)),
            self._recent_max(now, z),
            self.excess[_HL_3H].update(max(z, 0.0), _decay(minutes, _HL_3H)),
            self.excess[_HL_12H].update(max(z, 0.0), _decay(minutes, _HL_12H)),
        ]
        features += [levels[_HL_15M] - levels[_HL_1H], levels[_HL_1H] - levels[_HL_6H]]
        features += self._count_share("negative", row.negative, row.volume, minutes)
        features += self._share(row.reach_negativity, "reach_negativity", minutes, with_change=True)
        features += self._count_share("crisis_language", row.crisis_language, row.volume, minutes)
        features += self._share(row.novelty, "novelty", minutes, with_change=False)
        features += self._count_share("press", row.press, row.volume, minutes)
        features.append(min((ts - self.first).total_seconds() / 86400.0, _HISTORY_CAP_DAYS))

        self._baseline_learn(slot, x, expected, spread, minutes)
        return np.array(features, dtype=np.float64)

    def _recent_max(self, now: float, z: float) -> float:
        self.recent_z.append((now, z))
        while self.recent_z[0][0] <= now - 60.0:
            self.recent_z.popleft()
        return max(value for _, value in self.recent_z)

    def _count_share(self, name: str, count: float | None, volume: float, minutes: float) -> list[float]:
        """[share over the last hour, its change against the usual share]; NaN when not measured."""
        if count is None or not math.isfinite(count):
            return [math.nan, math.nan]
        count = min(max(count, 0.0), volume)
        sums = self.sums.setdefault(name, [0.0, 0.0, 0.0, 0.0])  # short count, volume, usual ...
        short, usual = _decay(minutes, _HL_1H), _decay(minutes, _HL_LEVEL)
        sums[0], sums[1] = short * sums[0] + count, short * sums[1] + volume
        share = sums[0] / sums[1] if sums[1] > 0 else math.nan
        usual_share = sums[2] / sums[3] if sums[3] > 0 else share
        # The usual share is learned after this row's features: a surge compares with the past.
        sums[2], sums[3] = usual * sums[2] + count, usual * sums[3] + volume
        return [share, share - usual_share]

    def _share(self, value: float | None, name: str, minutes: float, *, with_change: bool) -> list[float]:
        width = 2 if with_change else 1
        if value is None or not math.isfinite(value):
            return [math.nan] * width
        value = min(max(value, 0.0), 1.0)
        means = self.share_means.setdefault(name, [value, value])
        means[0] = _decay(minutes, _HL_1H) * means[0] + (1 - _decay(minutes, _HL_1H)) * value
        result = [means[0], means[0] - means[1]][:width]
        means[1] = _decay(minutes, _HL_LEVEL) * means[1] + (1 - _decay(minutes, _HL_LEVEL)) * value
        return result

    def _baseline_learn(self, slot: int, x: float, expected: float, spread: float, minutes: float) -> None:
        assert self.level is not None
        residual = x - expected
        clipped = min(max(residual, -_HUBER * spread), _HUBER * spread)
        # What this hour of the week adds to the level, judged on the clipped observation.
        slot_target = expected - self.level + clipped
        alpha = 1.0 - _decay(minutes, _HL_LEVEL)
        # The first day learns fast (level from few points), then follows days-long trends only.
        alpha = max(alpha, 1.0 / (2.0 + self.rows))
        self.level += alpha * clipped
        self.spread += alpha * (min(abs(residual), _HUBER * spread) - self.spread)
        visits = int(self.visits[slot])
        slot_alpha = max(1.0 / (visits + 1), _SLOT_ALPHA_MIN)
        self.offsets[slot] += slot_alpha * (slot_target - self.offsets[slot])
        self.visits[slot] = visits + 1
        self.rows += 1

    def dump(self) -> dict[str, Any]:
        """The state as JSON-ready data (production keeps it between 5-minute runs)."""
        return {
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "level": self.level,
            "rows": self.rows,
            "spread": self.spread,
            "offsets": self.offsets.tolist(),
            "visits": self.visits.tolist(),
            "means": {str(hl): ewm.value for hl, ewm in self.means.items()},
            "z_30m": self.z_30m.value,
            "excess": {str(hl): ewm.value for hl, ewm in self.excess.items()},
            "recent_z": list(self.recent_z),
            "sums": self.sums,
            "share_means": self.share_means,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> FeatureState:
        state = cls()
        state.first = datetime.fromisoformat(data["first"]) if data["first"] else None
        state.last = datetime.fromisoformat(data["last"]) if data["last"] else None
        state.level = data["level"]
        state.rows = data["rows"]
        state.spread = data["spread"]
        state.offsets = np.array(data["offsets"], dtype=np.float64)
        state.visits = np.array(data["visits"], dtype=np.int64)
        state.means = {float(hl): _Ewm(value) for hl, value in data["means"].items()}
        state.z_30m = _Ewm(data["z_30m"])
        state.excess = {float(hl): _Ewm(value) for hl, value in data["excess"].items()}
        state.recent_z = deque((float(t), float(z)) for t, z in data["recent_z"])
        state.sums = {name: list(values) for name, values in data["sums"].items()}
        state.share_means = {name: list(values) for name, values in data["share_means"].items()}
        return state


def features_compute(rows: Iterable[Signals]) -> npt.NDArray[np.float64]:
    """The feature matrix of a whole series, computed row by row through one `FeatureState`."""
    state = FeatureState()
    vectors = [state.update(row) for row in rows]
    return np.vstack(vectors) if vectors else np.empty((0, len(FEATURE_NAMES)))
