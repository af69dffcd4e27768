"""Uplift (personalization/ml/uplift.py): the difference and its confidence interval."""

from __future__ import annotations

import numpy as np
import pytest

from personalization.ml.uplift import uplift_estimate


def test_the_analytic_interval_covers_the_true_uplift_at_its_level() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    runs = 400
    for _ in range(runs):
        # Engagements per contact: Poisson, 1.1 for recommended sends against 1.0 for the holdout.
        treated, holdout = rng.poisson(1.1, 800), rng.poisson(1.0, 400)
        result = uplift_estimate(treated=treated, holdout=holdout)
        covered += result.low <= 0.1 <= result.high
    assert 0.92 <= covered / runs <= 0.98


def test_the_bootstrap_interval_agrees_with_the_analytic_one_on_a_large_sample() -> None:
    rng = np.random.default_rng(1)
    treated, holdout = rng.binomial(1, 0.12, 5000), rng.binomial(1, 0.10, 2000)
    analytic = uplift_estimate(treated=treated, holdout=holdout)
    boot = uplift_estimate(treated=treated, holdout=holdout, method="bootstrap", resamples=1000, seed=3)
    assert boot.difference == analytic.difference
    assert boot.low == pytest.approx(analytic.low, abs=0.004)
    assert boot.high == pytest.approx(analytic.high, abs=0.004)
    assert boot == uplift_estimate(
        treated=treated, holdout=holdout, method="bootstrap", resamples=1000, seed=3
    )


def test_figures_and_significance() -> None:
    result = uplift_estimate(
        treated=np.r_[np.ones(300), np.zeros(700)], holdout=np.r_[np.ones(200), np.zeros(800)]
    )
    assert (result.treated_mean, result.holdout_mean) == (0.3, 0.2)
    assert result.difference == pytest.approx(0.1)
    assert result.relative == pytest.approx(0.5)
    assert result.significant and result.low > 0
    assert (result.treated_n, result.holdout_n, result.confidence, result.method) == (
        1000,
        1000,
        0.95,
        "analytic",
    )
    same = uplift_estimate(treated=np.r_[np.ones(5), np.zeros(45)], holdout=np.r_[np.ones(5), np.zeros(45)])
    assert not same.significant and same.low < 0 < same.high
    assert uplift_estimate(treated=[1, 0, 1], holdout=[0, 0, 0]).relative is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"treated": [1], "holdout": [0, 1]}, "treated needs at least 2"),
        ({"treated": [1, 0], "holdout": [0, np.nan]}, "holdout outcomes must be finite"),
        ({"treated": [1, 0], "holdout": [0, 1], "method": "magic"}, "method must be one of"),
        ({"treated": [1, 0], "holdout": [0, 1], "confidence": 1.0}, "confidence"),
        ({"treated": [1, 0], "holdout": [0, 1], "method": "bootstrap", "resamples": 10}, "resamples"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        uplift_estimate(**kwargs)  # type: ignore[arg-type]
