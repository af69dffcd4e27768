"""Training (crisis/ml/training.py) on a few constructed series, and the artifact's round trip:
what `train_risk_model` writes is read back, checked, and scores the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crisis.ml.features import FEATURE_NAMES, features_compute
from crisis.ml.risk import RiskModel
from crisis.ml.training import DEFAULT_POLICY, calibration_metrics, risk_model_train
from crisis.ml.training_data import scenarios_build


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[RiskModel, Path, list]:
    series = scenarios_build(6, np.random.default_rng(11), days=6)
    model = risk_model_train(series, version="risk-test")
    path = tmp_path_factory.mktemp("artifact") / "risk-test.json"
    model.write(path)
    return model, path, series


def test_artifact_round_trip(trained: tuple[RiskModel, Path, list]) -> None:
    model, path, series = trained
    features = features_compute(series[0].rows)
    reread = RiskModel.read(path)
    assert np.array_equal(reread.scores(features), model.scores(features))
    assert {p.name for p in path.parent.iterdir()} == {
        "risk-test.json",
        "risk-test.6h.txt",
        "risk-test.24h.txt",
    }
    metadata = json.loads(path.read_text())  # strict JSON: no NaN
    assert metadata["features"] == list(FEATURE_NAMES)
    for horizon in ("6h", "24h"):
        report = metadata["evaluation"][horizon]
        assert {"brier", "ece", "log_loss", "roc_auc", "reliability"} <= set(report["calibrated"])
        assert sum(row["rows"] for row in report["calibrated"]["reliability"]) == report["calibrated"]["rows"]
    # No NAB series in training: nothing to tune the alert policy on, so the default one.
    assert reread.policy == DEFAULT_POLICY


def test_artifact_tampering_and_other_features_are_refused(trained: tuple[RiskModel, Path, list]) -> None:
    _, path, _ = trained
    metadata = json.loads(path.read_text())
    other = path.parent / "other.json"
    other.write_text(json.dumps({**metadata, "features": [*metadata["features"][:-1], "something_else"]}))
    with pytest.raises(ValueError, match="other features"):
        RiskModel.read(other)
    model_file = path.parent / metadata["models"]["6h"]["file"]
    original = model_file.read_text()
    try:
        model_file.write_text(original.replace("learning_rate", "learning_rate ", 1))
        with pytest.raises(ValueError, match="SHA-256"):
            RiskModel.read(path)
    finally:
        model_file.write_text(original)


def test_calibration_metrics_on_a_known_case() -> None:
    metrics = calibration_metrics(np.array([0.05, 0.05, 0.95, 0.95]), [0, 1, 1, 1])
    # Brier: (0.05^2 + 0.95^2 + 0.05^2 + 0.05^2) / 4; ECE: half the rows off by 0.45, half by 0.05.
    assert metrics["brier"] == pytest.approx((3 * 0.0025 + 0.9025) / 4, abs=1e-5)
    assert metrics["ece"] == pytest.approx(0.5 * 0.45 + 0.5 * 0.05, abs=1e-5)
    assert [row["rows"] for row in metrics["reliability"]] == [2, 2]
