"""The fairness core on constructed data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_ratio, equalized_odds_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from ethics.fairness import (
    UNKNOWN_GROUP,
    FairnessInputError,
    Thresholds,
    age_band,
    audit,
    decisions_from_scores,
)


def _population(rates: dict[str, float], n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n rows per group; true outcome 50/50; decisions at each group's exact selection rate."""
    rng = np.random.default_rng(seed)
    groups, preds, truth = [], [], []
    for group, rate in rates.items():
        chosen = round(rate * n)
        pred = np.array([1] * chosen + [0] * (n - chosen))
        rng.shuffle(pred)
        groups += [group] * n
        preds.append(pred)
        truth.append(rng.integers(0, 2, n))
    return np.array(groups, dtype=object), np.concatenate(preds), np.concatenate(truth)


def test_a_fair_model_passes_the_four_fifths_rule() -> None:
    groups, pred, truth = _population({"f": 0.40, "m": 0.42, "x": 0.38}, 500)
    report = audit(y_pred=pred, y_true=truth, sensitive={"gender": groups})
    attribute = report.attributes[0]
    assert report.passed and attribute.passed is True
    assert attribute.dp_ratio == pytest.approx(0.38 / 0.42)
    assert attribute.dp_difference == pytest.approx(0.04)
    assert report.failures == []


def test_a_biased_model_fails_the_four_fifths_rule() -> None:
    groups, pred, truth = _population({"young": 0.50, "old": 0.30}, 400)
    report = audit(y_pred=pred, y_true=truth, sensitive={"age_band": groups})
    attribute = report.attributes[0]
    assert not report.passed and attribute.passed is False
    assert attribute.dp_ratio == pytest.approx(0.6)
    assert "four-fifths" in report.failures[0]
    # The whole interval is below 0.8: the failure is not chance.
    assert attribute.dp_ratio_ci is not None and attribute.dp_ratio_ci.high is not None
    assert attribute.dp_ratio_ci.high < 0.8


def test_point_estimates_are_fairlearns() -> None:
    rng = np.random.default_rng(3)
    groups = rng.choice(["a", "b", "c"], size=3000)
    truth = rng.integers(0, 2, 3000)
    pred = (
        (rng.random(3000) < np.where(groups == "a", 0.6, 0.4)) | (truth & (rng.random(3000) < 0.3))
    ).astype(int)
    attribute = audit(y_pred=pred, y_true=truth, sensitive={"g": groups}).attributes[0]
    assert attribute.dp_ratio == pytest.approx(
        demographic_parity_ratio(truth, pred, sensitive_features=groups)
    )
    assert attribute.eo_difference == pytest.approx(
        equalized_odds_difference(truth, pred, sensitive_features=groups)
    )
    by_group = {g.group: g for g in attribute.groups}
    mask = (groups == "b") & (truth == 1)
    assert by_group["b"].true_positive_rate == pytest.approx(pred[mask].mean())
    assert by_group["b"].count == int((groups == "b").sum())


def test_equalized_odds_bound_is_optional_and_judged() -> None:
    rng = np.random.default_rng(5)
    groups = np.array(["a"] * 1000 + ["b"] * 1000, dtype=object)
    truth = rng.integers(0, 2, 2000)
    # Same selection rate (40%) in both groups, but group b's selections ignore the truth.
    pred_a = np.where(truth[:1000] == 1, rng.random(1000) < 0.7, rng.random(1000) < 0.1)
    pred_b = rng.random(1000) < 0.4
    pred = np.concatenate([pred_a, pred_b]).astype(int)
    assert audit(y_pred=pred, y_true=truth, sensitive={"g": groups}).passed
    strict = audit(
        y_pred=pred, y_true=truth, sensitive={"g": groups}, thresholds=Thresholds(max_eo_difference=0.1)
    )
    assert not strict.passed
    assert "equalized odds" in strict.failures[0]


def test_confidence_intervals_cover_the_truth_in_a_seeded_simulation() -> None:
    """Draw 120 samples from a population with known selection rates; the 95% intervals of the
    per-group rate and of the difference must contain the true values about 95% of the time."""
    true_rates = {"a": 0.30, "b": 0.45}
    rng = np.random.default_rng(11)
    covered_rate = covered_difference = 0
    trials = 120
    for trial in range(trials):
        groups = np.array(["a"] * 150 + ["b"] * 250, dtype=object)
        pred = (rng.random(400) < np.where(groups == "a", true_rates["a"], true_rates["b"])).astype(int)
        report = audit(y_pred=pred, sensitive={"g": groups}, thresholds=Thresholds(resamples=400, seed=trial))
        attribute = report.attributes[0]
        a = next(g for g in attribute.groups if g.group == "a")
        assert a.selection_rate_ci.low is not None and a.selection_rate_ci.high is not None
        covered_rate += a.selection_rate_ci.low <= true_rates["a"] <= a.selection_rate_ci.high
        ci = attribute.dp_difference_ci
        assert ci is not None and ci.low is not None and ci.high is not None
        covered_difference += ci.low <= 0.15 <= ci.high
    assert 0.88 <= covered_rate / trials <= 0.99
    assert 0.88 <= covered_difference / trials <= 0.99


def test_small_groups_warn_and_are_not_judged() -> None:
    groups, pred, truth = _population({"big1": 0.40, "big2": 0.40}, 300)
    # Ten people, none selected: on its own this would fail the four-fifths rule.
    groups = np.concatenate([groups, np.array(["tiny"] * 10, dtype=object)])
    pred = np.concatenate([pred, np.zeros(10, dtype=int)])
    truth = np.concatenate([truth, np.ones(10, dtype=int)])
    report = audit(y_pred=pred, y_true=truth, sensitive={"region": groups})
    attribute = report.attributes[0]
    tiny = next(g for g in attribute.groups if g.group == "tiny")
    assert tiny.too_small and "too small" in tiny.warning
    assert attribute.judged_groups == ["big1", "big2"]
    assert report.passed
    assert any("tiny" in w for w in report.warnings)


def test_wide_intervals_warn_even_above_the_minimum_size() -> None:
    groups, pred, _ = _population({"a": 0.5, "b": 0.5}, 40)
    report = audit(y_pred=pred, sensitive={"g": groups}, thresholds=Thresholds(max_ci_width=0.2))
    assert all("too uncertain" in g.warning for g in report.attributes[0].groups)
    assert report.attributes[0].passed is None
    assert report.passed  # not judged is not failed, but it says so
    assert "not judged" in report.warnings[0]


def test_missing_values_form_the_unknown_group() -> None:
    report = audit(y_pred=[1, 0, 1, 0], sensitive={"g": ["a", None, "", "a"]})
    assert {g.group for g in report.attributes[0].groups} == {"a", UNKNOWN_GROUP}


def test_the_bootstrap_is_seeded() -> None:
    groups, pred, truth = _population({"a": 0.3, "b": 0.5}, 200)
    first = audit(y_pred=pred, y_true=truth, sensitive={"g": groups}).to_dict()
    again = audit(y_pred=pred, y_true=truth, sensitive={"g": groups}).to_dict()
    assert first == again


def test_scores_become_decisions() -> None:
    scores = [0.9, 0.1, 0.5, 0.7, 0.3]
    assert list(decisions_from_scores(scores, threshold=0.5)) == [1, 0, 1, 1, 0]
    assert list(decisions_from_scores(scores, top_fraction=0.4)) == [1, 0, 0, 1, 0]
    with pytest.raises(FairnessInputError):
        decisions_from_scores(scores)
    with pytest.raises(FairnessInputError):
        decisions_from_scores(scores, top_fraction=1.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_pred": [1, 2], "sensitive": {"g": ["a", "b"]}}, "only 0 and 1"),
        ({"y_pred": [1, 0], "y_true": [1], "sensitive": {"g": ["a", "b"]}}, "y_true has 1"),
        ({"y_pred": [1, 0], "sensitive": {"g": ["a"]}}, "Attribute 'g' has 1"),
        ({"y_pred": [], "sensitive": {"g": []}}, "no predictions"),
        ({"y_pred": [1], "sensitive": {}}, "at least one"),
    ],
)
def test_bad_input_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(FairnessInputError, match=message):
        audit(**kwargs)


def test_age_bands() -> None:
    assert [age_band(a) for a in (18, 25, 26, 35, 36, 55, 56, 65, 66, 90)] == [
        "<=25",
        "<=25",
        "26-35",
        "26-35",
        "36-55",
        "36-55",
        "56-65",
        "56-65",
        ">65",
        ">65",
    ]
    assert age_band(None) == UNKNOWN_GROUP
    assert age_band(40, [30]) == ">30"


def test_groups_are_listed_in_band_order() -> None:
    bands = ["56-65", ">65", "<=25", UNKNOWN_GROUP, "26-35", "x"]
    report = audit(y_pred=[1, 0, 1, 0, 1, 0], sensitive={"age_band": bands})
    listed = [g.group for g in report.attributes[0].groups]
    assert listed == ["<=25", "26-35", "56-65", ">65", "x", UNKNOWN_GROUP]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from(["a", "b", "c", None, "=x", "√ü"])),
        min_size=1,
        max_size=120,
    ),
    min_group_size=st.integers(2, 40),
)
def test_any_input_gives_rates_in_range(rows: list[tuple[int, int, str | None]], min_group_size: int) -> None:
    pred, truth, groups = (list(column) for column in zip(*rows, strict=True))
    report = audit(
        y_pred=pred,
        y_true=truth,
        sensitive={"g": groups},
        thresholds=Thresholds(min_group_size=min_group_size, resamples=100),
    )
    attribute = report.attributes[0]
    assert sum(g.count for g in attribute.groups) == len(rows)
    for group in attribute.groups:
        assert 0 <= group.selection_rate <= 1
        low, high = group.selection_rate_ci.low, group.selection_rate_ci.high
        assert low is not None and high is not None and 0 <= low <= high <= 1
    for value in (attribute.dp_ratio, attribute.dp_difference, attribute.eo_difference):
        assert value is None or 0 <= value <= 1
    assert attribute.passed is None or attribute.passed == (
        attribute.dp_ratio is not None and attribute.dp_ratio >= 0.8
    )
