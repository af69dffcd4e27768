"""The crisis-risk scorer (crisis/ml): causal features, the committed model's scores and their
factor decomposition, calibration, per-tenant recalibration and the alert policy. Plain pytest on
arrays; no database."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crisis.ml.features import (
    FACTORS,
    FEATURE_NAMES,
    FeatureState,
    Signals,
    crisis_language_match,
    features_compute,
)
from crisis.ml.risk import (
    MIN_TENANT_INCIDENTS,
    AlertPolicy,
    AlertState,
    Calibration,
    RiskModel,
    RiskStream,
    alerts_compute,
    calibration_fit,
    tenant_calibration,
)
from crisis.ml.training_data import scenarios_build

T0 = datetime(2025, 3, 3, tzinfo=UTC)
STEP = timedelta(minutes=5)
PROPERTIES = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _series(volumes: list[float], start: datetime = T0) -> list[Signals]:
    return [Signals(timestamp=start + i * STEP, volume=float(v)) for i, v in enumerate(volumes)]


def _seasonal(days: int, seed: int = 1, level: float = 40.0) -> list[float]:
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 288) / 12
    expected = level * (1 + 0.5 * np.cos((hours % 24 - 15) / 24 * 2 * math.pi))
    return rng.poisson(expected).astype(float).tolist()


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return RiskModel.load()


@pytest.fixture(scope="module")
def scenario() -> list[Signals]:
    """A constructed series with every signal and at least one crisis."""
    rng = np.random.default_rng(3)
    for series in scenarios_build(6, rng, days=8):
        if series.onsets:
            return series.rows
    raise AssertionError("no constructed series with a crisis")


def test_factor_points_add_up_to_the_score(model: RiskModel, scenario: list[Signals]) -> None:
    features = features_compute(scenario)
    results = model.explain(features)
    assert len(results) == len(scenario)
    assert set(results[0].factors) == set(FACTORS)
    for result in results:
        assert result.base + sum(result.factors.values()) == pytest.approx(result.score, abs=1e-9)
        assert 0 <= result.score <= 100
        assert result.probability_6h <= result.probability_24h <= 1
        # The stored margin gives the score back through the calibration (recalibration needs it).
        assert 100 * model.calibrations["6h"].probability(np.array([result.margin_6h]))[0] == pytest.approx(
            result.score, abs=1e-9
        )
    # The explained scores are the backtest's scores: one scorer.
    assert np.allclose([r.score for r in results], model.scores(features))
    # Around the crisis the score passes the alert threshold, carried by the crisis signals.
    top = max(results, key=lambda r: r.score)
    assert top.score > model.policy.threshold
    assert max(top.factors, key=lambda f: top.factors[f]) != "history"


def test_decomposition_is_exact_where_the_score_equals_the_base(model: RiskModel) -> None:
    from crisis.ml.risk import score_decompose

    contributions = np.array([[0.3, -0.3, 0.0, -1.7], [0.0, 0.0, 0.0, -1.7]])
    scores, bases, points = score_decompose(contributions, Calibration(slope=0.8, intercept=0.2))
    assert scores == pytest.approx(bases)
    assert points.sum(axis=1) == pytest.approx([0.0, 0.0], abs=1e-12)
    assert points[0, 0] > 0 > points[0, 1]


def test_no_look_ahead_in_the_features(scenario: list[Signals]) -> None:
    full = features_compute(scenario)
    cut = 1500
    changed = scenario[:cut] + [
        Signals(timestamp=row.timestamp, volume=row.volume * 50 + 7, negative=0.0) for row in scenario[cut:]
    ]
    assert np.array_equal(features_compute(changed)[:cut], full[:cut], equal_nan=True)


@PROPERTIES
@given(
    volumes=st.lists(st.integers(0, 5000), min_size=2, max_size=400),
    future=st.lists(st.integers(0, 10**7), min_size=1, max_size=200),
    cut=st.floats(0, 1),
)
def test_no_look_ahead_in_scores_and_alerts(volumes: list[int], future: list[int], cut: float) -> None:
    """Changing the rows after any point never changes a score or alert before it."""
    model = RiskModel.load()
    k = int(cut * (len(volumes) - 1))

    def run(values: list[int]) -> list[tuple[float, bool]]:
        stream = RiskStream(model)
        return [stream.update(row) for row in _series([float(v) for v in values])]

    assert run(volumes)[:k] == run(volumes[:k] + future)[:k]


def test_scores_in_range_on_empty_flat_and_huge_series(model: RiskModel) -> None:
    assert model.explain(np.empty((0, len(FEATURE_NAMES)))) == []
    assert len(model.scores(np.empty((0, len(FEATURE_NAMES))))) == 0
    for volumes in ([0.0] * 600, [50.0] * 600, [1e9] * 600, [0.0] * 300 + [1e12] * 10 + [0.0] * 50):
        results = model.explain(features_compute(_series(volumes)))
        scores = np.array([r.score for r in results])
        assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 100).all()
    flat = model.scores(features_compute(_series([50.0] * 2000)))
    assert flat[-1] < model.policy.threshold  # a steady series raises nothing


def test_a_surge_of_anger_raises_an_alert_and_a_calm_week_does_not(model: RiskModel) -> None:
    calm = _seasonal(7)
    stream = RiskStream(model)
    assert not any(alert for _, alert in (stream.update(row) for row in _series(calm)))
    surge = [v * 12 for v in _seasonal(1, seed=2)[:36]]
    stream_rows = _series(calm + surge)
    stream = RiskStream(model)
    alerts = [stream.update(row)[1] for row in stream_rows]
    assert not any(alerts[: len(calm)]) and any(alerts[len(calm) :])


def test_features_and_scores_do_not_depend_on_the_series_scale(model: RiskModel) -> None:
    """A brand with 10x the mentions and the same shape (rhythm, noise, surge) gets the same features
    and scores: nothing the model sees says how big the brand is, so what it learns on one series
    transfers to series of any size (the NAB files differ 15x in median volume)."""
    rng = np.random.default_rng(4)
    hours = np.arange(5 * 288) / 12
    shape = (1 + 0.5 * np.cos((hours % 24 - 15) / 24 * 2 * math.pi)) * rng.lognormal(0, 0.25, len(hours))
    shape[4 * 288 : 4 * 288 + 24] *= 8
    small, large = features_compute(_series(list(200 * shape))), features_compute(_series(list(2000 * shape)))
    volume_only = [i for i, name in enumerate(FEATURE_NAMES) if not np.isnan(small[0, i])]
    assert np.abs(small[:, volume_only] - large[:, volume_only]).max() < 0.05
    # Trees cut features at thresholds: a rounding-sized difference can cross one on a rare row.
    scores_small, scores_large = model.scores(small), model.scores(large)
    assert np.percentile(np.abs(scores_small - scores_large), 99) < 1.0
    stamps = [row.timestamp for row in _series(list(shape))]
    alerts = alerts_compute(stamps, scores_small, model.policy)
    assert alerts == alerts_compute(stamps, scores_large, model.policy)
    assert any(alerts[4 * 288 :]) and not any(alerts[: 4 * 288])


def test_platt_calibration_improves_brier_on_held_out_data() -> None:
    rng = np.random.default_rng(0)
    margins = rng.normal(-1.0, 2.0, 40_000)
    # An over-confident model: the true log-odds are half its margin, shifted down.
    labels = rng.random(40_000) < 1 / (1 + np.exp(-(0.5 * margins - 2.0)))
    fitted = calibration_fit(margins[:20_000], labels[:20_000])
    assert fitted.slope == pytest.approx(0.5, abs=0.05) and fitted.intercept == pytest.approx(-2.0, abs=0.1)
    raw = 1 / (1 + np.exp(-margins[20_000:]))
    brier_raw = np.mean((raw - labels[20_000:]) ** 2)
    brier_calibrated = np.mean((fitted.probability(margins[20_000:]) - labels[20_000:]) ** 2)
    assert brier_calibrated < 0.8 * brier_raw


def test_tenant_recalibration_falls_back_below_the_minimum(model: RiskModel) -> None:
    global_calibration = model.calibrations["6h"]
    stamps = [T0 + i * STEP for i in range(20 * 288)]
    rng = np.random.default_rng(1)
    margins = rng.normal(-4, 1, len(stamps))
    starts = [T0 + timedelta(days=d, hours=10) for d in range(2, 20, 3)]
    # This tenant's incidents come with margins far above the global model's usual ones.
    for start in starts:
        index = int((start - T0) / STEP)
        margins[index - 60 : index + 12] += 4
    few = tenant_calibration(
        margins=margins,
        timestamps=stamps,
        incident_starts=starts[: MIN_TENANT_INCIDENTS - 1],
        global_calibration=global_calibration,
    )
    assert few is global_calibration
    own = tenant_calibration(
        margins=margins, timestamps=stamps, incident_starts=starts, global_calibration=global_calibration
    )
    assert own.incidents == len(starts) and own != global_calibration
    labels = np.zeros(len(stamps))
    for start in starts:
        index = int((start - T0) / STEP)
        labels[index - 72 : index + 13] = 1
    brier = {
        name: np.mean((calibration.probability(margins) - labels) ** 2)
        for name, calibration in (("global", global_calibration), ("own", own))
    }
    assert brier["own"] < brier["global"]


def test_alert_hysteresis_and_cooldown() -> None:
    policy = AlertPolicy(threshold=60.0, release=30.0, cooldown_minutes=60.0)
    state = AlertState(policy)
    scores = [10, 65, 59, 61, 70, 40, 65, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 61, 10, 90]
    raised = [i for i, score in enumerate(scores) if state.update(T0 + i * STEP, score)]
    # 1 raises; 2-6 hover above the release level (no new alert); 7 releases; 18 is 85 minutes
    # after the last alert (past the 60-minute cooldown); 20 is within the cooldown of 18.
    assert raised == [1, 18]


def test_feature_state_survives_dump_and_restore(scenario: list[Signals]) -> None:
    import json

    straight = FeatureState()
    expected = [straight.update(row) for row in scenario[:900]]
    first = FeatureState()
    for row in scenario[:500]:
        first.update(row)
    resumed = FeatureState.restore(json.loads(json.dumps(first.dump())))
    got = [resumed.update(row) for row in scenario[500:900]]
    assert np.array_equal(np.array(got), np.array(expected[500:]), equal_nan=True)


def test_stream_resumes_from_its_dump_with_the_same_scores_and_alerts(model: RiskModel) -> None:
    import json

    rows = _series(_seasonal(7) + [v * 12 for v in _seasonal(1, seed=2)[:36]] + _seasonal(1, seed=3))
    straight = RiskStream(model)
    expected = [straight.update(row) for row in rows]
    first = RiskStream(model)
    half = 7 * 288 + 10  # inside the surge, with an alert active
    head = [first.update(row) for row in rows[:half]]
    resumed = RiskStream.restore(model, json.loads(json.dumps(first.dump())))
    assert head + [resumed.update(row) for row in rows[half:]] == expected
    assert any(alert for _, alert in expected)


def test_feature_state_rejects_out_of_order_and_naive_buckets() -> None:
    state = FeatureState()
    state.update(Signals(timestamp=T0, volume=1))
    with pytest.raises(ValueError, match="not after"):
        state.update(Signals(timestamp=T0, volume=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        state.update(Signals(timestamp=datetime(2025, 3, 4), volume=1))
    with pytest.raises(ValueError, match="volume"):
        state.update(Signals(timestamp=T0 + STEP, volume=-1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AWS is down again, nothing works", True),
        ("Is this a data breach? My card was stolen", True),
        ("Die App hat eine Störung seit heute früh", True),
        ("Encore une panne chez eux, je veux être remboursé", True),
        ("Otra caída del servicio, no funciona nada", True),
        ("Vazamento de dados confirmado", True),
        ("Weer een storing bij de provider", True),
        ("Download the new release, it's great", False),
        ("Suede jacket for sale", False),
        ("Loving the new dashboard", False),
    ],
)
def test_crisis_lexicon(text: str, expected: bool) -> None:
    assert crisis_language_match(text) is expected


def test_a_surge_of_anger_scores_above_an_equal_surge_of_praise(model: RiskModel) -> None:
    rng = np.random.default_rng(8)
    calm = _seasonal(7, seed=9)
    surge = [v * 10 for v in _seasonal(1, seed=10)[:36]]

    def rows(negative: float, crisis: float, press: float) -> list[Signals]:
        out = []
        for i, v in enumerate(calm + surge):
            hot = i >= len(calm)
            share, words, by_press = (negative, crisis, press) if hot else (0.15, 0.01, 0.01)
            out.append(
                Signals(
                    timestamp=T0 + i * STEP,
                    volume=v,
                    negative=float(rng.binomial(int(v), share)),
                    reach_negativity=share,
                    crisis_language=float(rng.binomial(int(v), words)),
                    novelty=0.6 if hot else 0.05,
                    press=float(rng.binomial(int(v), by_press)),
                )
            )
        return out

    def run(series: list[Signals]) -> tuple[float, bool]:
        stream = RiskStream(model)
        results = [stream.update(row) for row in series]
        return max(score for score, _ in results[len(calm) :]), any(alert for _, alert in results)

    anger, praise = run(rows(0.7, 0.3, 0.1)), run(rows(0.05, 0.005, 0.05))
    assert anger[0] > 2 * praise[0]
    assert anger[1]
