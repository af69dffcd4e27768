"""Alert detection on plain numbers: no ORM, so it is testable on constructed series.

* `profile_fit` learns what 5-minute volume is normal at each hour of the week from the tenant's own
  history: a robust level per slot (a mean after clipping outliers above median + 4 robust sigmas,
  so past spikes do not teach the baseline that spikes are normal) and its variance, floored at the
  Poisson variance (counts are counts). Slots fall back, when their history is short, to the same
  hour of the day pooled over all days, then to the overall level, then to a cold start (no
  history: expect nothing and ask for a minimum count instead).
* `volume_spike` compares the count of a recent window with what the profile expects for exactly
  those minutes: a z-score against the expected variance, plus a minimum ratio and count, so a large
  tenant does not fire on a small relative change and a silent one does not fire on three posts.
* `negative_share_jump` tests the negative share of a recent window against the baseline share with
  a one-sided exact binomial test, guarded by a minimum volume and a minimum jump.

Sensitivity is 1 (only the most extreme changes) to 10 (anything notable); `SENSITIVITY_DEFAULT` 5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.stats import binomtest

BIN = timedelta(minutes=5)
SLOTS = 7 * 24  # hour of the week, Monday 00:00 UTC first
SENSITIVITY_MIN, SENSITIVITY_MAX, SENSITIVITY_DEFAULT = 1, 10, 5
# A slot needs this many 5-minute samples (two weeks of that hour) before it is trusted alone;
# the hour of the day pooled over days needs the same (two days).
MIN_SLOT_SAMPLES = 24
MIN_OVERALL_SAMPLES = 12  # one hour of history
MIN_SPIKE_COUNT = 5
MIN_SHARE_VOLUME = 20


@dataclass(frozen=True)
class Detection:
    fired: bool
    expected: float
    observed: float
    score: float  # z-score (volume) or -log10 p (share)
    threshold: float
    why: str


@dataclass(frozen=True)
class Profile:
    """Per hour-of-week slot: expected count per 5-minute bin and its variance; `basis` says where
    each slot's numbers came from ("week", "day", "overall" or "cold")."""

    level: tuple[float, ...]
    variance: tuple[float, ...]
    basis: tuple[str, ...]
    history_bins: int

    def at(self, moment: datetime) -> tuple[float, float]:
        slot = _slot(moment)
        return self.level[slot], self.variance[slot]

    def to_json(self) -> dict[str, object]:
        return {
            "level": list(self.level),
            "variance": list(self.variance),
            "basis": list(self.basis),
            "history_bins": self.history_bins,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Profile:
        return cls(
            level=tuple(float(v) for v in data["level"]),  # type: ignore[attr-defined]
            variance=tuple(float(v) for v in data["variance"]),  # type: ignore[attr-defined]
            basis=tuple(str(v) for v in data["basis"]),  # type: ignore[attr-defined]
            history_bins=int(data["history_bins"]),  # type: ignore[call-overload]
        )


def cold_profile() -> Profile:
    return Profile((0.0,) * SLOTS, (1.0,) * SLOTS, ("cold",) * SLOTS, 0)


def _slot(moment: datetime) -> int:
    utc = moment.astimezone(UTC)
    return utc.weekday() * 24 + utc.hour


def _robust(values: np.ndarray) -> tuple[float, float]:
    median = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - median)))
    ceiling = median + 4 * max(sigma, math.sqrt(max(median, 1.0)))
    clipped = np.minimum(values, ceiling)
    level = float(clipped.mean())
    return level, max(float(clipped.var()), level, 0.25)


def profile_fit(*, start: datetime, counts: Sequence[int] | np.ndarray) -> Profile:
    """Learn the profile from a dense series of 5-minute counts whose first bin starts at `start`
    (aligned to 5 minutes, timezone-aware; missing bins must be zeros)."""
    values = np.asarray(counts, dtype=float)
    if values.size < MIN_OVERALL_SAMPLES:
        return cold_profile()
    first = _slot(start) * 12 + start.astimezone(UTC).minute // 5
    week_slot = ((first + np.arange(values.size)) // 12) % SLOTS
    day_slot = week_slot % 24
    overall = _robust(values)
    level, variance, basis = [], [], []
    for slot in range(SLOTS):
        own = values[week_slot == slot]
        pooled = values[day_slot == slot % 24]
        if own.size >= MIN_SLOT_SAMPLES:
            chosen, name = _robust(own), "week"
        elif pooled.size >= MIN_SLOT_SAMPLES:
            chosen, name = _robust(pooled), "day"
        else:
            chosen, name = overall, "overall"
        level.append(chosen[0])
        variance.append(chosen[1])
        basis.append(name)
    return Profile(tuple(level), tuple(variance), tuple(basis), int(values.size))


def window_expectation(profile: Profile, *, start: datetime, end: datetime) -> tuple[float, float]:
    """Expected count and variance over [start, end), minute by minute (a window may straddle two
    hours with different levels)."""
    expected = variance = 0.0
    minutes = max(1, round((end - start) / timedelta(minutes=1)))
    for i in range(minutes):
        level, var = profile.at(start + timedelta(minutes=i))
        expected += level / 5
        variance += var / 5
    return expected, variance


def spike_threshold(sensitivity: int) -> tuple[float, float]:
    """(z-score, minimum observed/expected ratio) for a sensitivity: 10 -> (2, 1.25), 5 -> (4.5,
    1.5), 1 -> (6.5, 1.7)."""
    s = _clamp(sensitivity)
    return 2.0 + 0.5 * (10 - s), 1.25 + 0.05 * (10 - s)


def volume_spike(
    *, profile: Profile, observed: int, start: datetime, end: datetime, sensitivity: int
) -> Detection:
    expected, variance = window_expectation(profile, start=start, end=end)
    z_min, ratio_min = spike_threshold(sensitivity)
    z = (observed - expected) / math.sqrt(max(variance, 1.0))
    minutes = round((end - start) / timedelta(minutes=1))
    basis = profile.basis[_slot(start)]
    fired = bool(z >= z_min and observed >= MIN_SPIKE_COUNT and observed >= ratio_min * expected)
    ratio = f"{observed / expected:.1f}x" if expected >= 0.05 else "far above"
    learned = {
        "week": "this hour of the week",
        "day": "this hour of the day",
        "overall": "the overall level",
        "cold": "no history yet",
    }[basis]
    why = (
        f"{observed} mentions in {minutes} min; {expected:.1f} expected ({learned}), {ratio}, "
        f"z = {z:.1f} (fires at z >= {z_min:.1f}, ratio >= {ratio_min:.2f}, at least {MIN_SPIKE_COUNT})"
    )
    return Detection(fired, expected, float(observed), z, z_min, why)


def share_threshold(sensitivity: int) -> tuple[float, float]:
    """(largest p-value, smallest jump in share) for a sensitivity: 10 -> (0.05, 0.05), 5 ->
    (1.6e-4, 0.10), 1 -> (1.6e-6, 0.14)."""
    s = _clamp(sensitivity)
    return 10 ** -(1.3 + 0.5 * (10 - s)), 0.05 + 0.01 * (10 - s)


def negative_share_jump(
    *, negative: int, total: int, baseline_share: float, sensitivity: int, minutes: int
) -> Detection:
    alpha, jump_min = share_threshold(sensitivity)
    threshold = -math.log10(alpha)
    if total < MIN_SHARE_VOLUME:
        return Detection(
            False,
            baseline_share,
            negative / total if total else 0.0,
            0.0,
            threshold,
            f"{total} analysed mentions in {minutes} min: fewer than {MIN_SHARE_VOLUME}, too few to judge",
        )
    share = negative / total
    # Clamped away from 0 and 1: a tenant with no negative history still gets a testable baseline.
    p0 = min(max(baseline_share, 0.01), 0.99)
    p_value = binomtest(negative, total, p0, alternative="greater").pvalue
    score = -math.log10(max(p_value, 1e-300))
    fired = bool(p_value <= alpha and share - baseline_share >= jump_min)
    why = (
        f"{negative} of {total} mentions negative in {minutes} min ({share:.0%}); usually "
        f"{baseline_share:.0%}; p = {p_value:.1e} (fires at p <= {alpha:.1e} and a jump of at least "
        f"{jump_min:.0%})"
    )
    return Detection(fired, baseline_share, share, score, threshold, why)


def _clamp(sensitivity: int) -> int:
    return min(max(int(sensitivity), SENSITIVITY_MIN), SENSITIVITY_MAX)


def topic_threshold(sensitivity: int) -> tuple[float, int]:
    """(smallest growth, smallest volume) for a new topic: 10 -> (+50%, 5), 5 -> (+175%, 15),
    1 -> (+275%, 23)."""
    s = _clamp(sensitivity)
    return 0.5 + 0.25 * (10 - s), 5 + 2 * (10 - s)


def new_topic(*, label: str, volume: int, previous_volume: int, growth: float, sensitivity: int) -> Detection:
    """A young topic (found recently, judged by the caller) that grows fast enough and is large
    enough to matter. `growth` is the topic run's (volume - previous) / max(previous, floor)."""
    growth_min, volume_min = topic_threshold(sensitivity)
    fired = growth >= growth_min and volume >= volume_min
    why = (
        f"New topic '{label}': {volume} mentions, {previous_volume} in the window before "
        f"({growth:+.0%}); fires at growth >= {growth_min:+.0%} with at least {volume_min} mentions"
    )
    return Detection(bool(fired), float(previous_volume), float(volume), growth, growth_min, why)
