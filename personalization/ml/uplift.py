"""Uplift: how much more the contacts who got recommended sends engaged than a random holdout.

Input is one outcome per contact of each group (engagements in the campaign window, or 0/1 engaged,
or a rate), so contacts are the independent units: a contact who engages ten times counts once.
The uplift is the difference of the groups' means, with a confidence interval either analytic
(Welch: normal approximation with each group's own variance, right for the thousands of contacts a
campaign has) or by bootstrap (each group resampled on its own, percentile interval; better for
small or very skewed groups). The relative lift is the difference over the holdout's mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from personalization.ml.engagement import Array

METHODS = ("analytic", "bootstrap")
# Resamples drawn at once by the bootstrap: bounds memory to CHUNK x group size integers.
CHUNK = 100


@dataclass(frozen=True, slots=True)
class Uplift:
    treated_mean: float
    holdout_mean: float
    difference: float
    low: float
    high: float
    relative: float | None  # difference / holdout mean; None when the holdout never engaged
    confidence: float
    treated_n: int
    holdout_n: int
    method: str

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0


def _outcomes(values: npt.ArrayLike, name: str) -> Array:
    array = np.asarray(values, dtype=np.float64).ravel()
    if len(array) < 2:
        raise ValueError(f"{name} needs at least 2 contacts")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} outcomes must be finite numbers")
    return array


def _bootstrap_means(values: Array, resamples: int, rng: np.random.Generator) -> Array:
    means = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        means[start : start + size] = values[rng.integers(0, len(values), (size, len(values)))].mean(axis=1)
    return means


def uplift_estimate(
    *,
    treated: npt.ArrayLike,
    holdout: npt.ArrayLike,
    confidence: float = 0.95,
    method: str = "analytic",
    resamples: int = 2000,
    seed: int = 0,
) -> Uplift:
    """Treated minus holdout mean outcome per contact, with its confidence interval."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    treated_values = _outcomes(treated, "treated")
    holdout_values = _outcomes(holdout, "holdout")
    treated_mean = float(treated_values.mean())
    holdout_mean = float(holdout_values.mean())
    difference = treated_mean - holdout_mean
    if method == "analytic":
        se = math.sqrt(
            treated_values.var(ddof=1) / len(treated_values)
            + holdout_values.var(ddof=1) / len(holdout_values)
        )
        half = float(norm.ppf(0.5 + confidence / 2)) * se
        low, high = difference - half, difference + half
    else:
        if resamples < 100:
            raise ValueError("resamples must be at least 100")
        rng = np.random.default_rng(seed)
        differences = _bootstrap_means(treated_values, resamples, rng) - _bootstrap_means(
            holdout_values, resamples, rng
        )
        tail = (1 - confidence) / 2 * 100
        low, high = (float(v) for v in np.percentile(differences, [tail, 100 - tail]))
    return Uplift(
        treated_mean=treated_mean,
        holdout_mean=holdout_mean,
        difference=difference,
        low=low,
        high=high,
        relative=difference / holdout_mean if holdout_mean else None,
        confidence=confidence,
        treated_n=len(treated_values),
        holdout_n=len(holdout_values),
        method=method,
    )
