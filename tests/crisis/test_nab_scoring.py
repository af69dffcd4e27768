"""NAB's standard-profile scoring (crisis/ml/nab.py) against examples worked out by hand from the
rules of NAB's sweeper (numenta/NAB nab/sweeper.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from crisis.ml import nab

T0 = datetime(2015, 3, 1, tzinfo=UTC)


def _detections(rows: int, at: list[int]) -> list[bool]:
    return [i in at for i in range(rows)]


def test_scaled_sigmoid_matches_nab_reference_points() -> None:
    # The values NAB's docstring gives: left edge, halfway, right edge, one width past.
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.0) == -1.0


def test_hand_worked_file() -> None:
    """20 rows, one window on rows 8-11 (width 4); probation is floor(0.15 * 20) = 3 rows.

    - row 2: probationary, ignored.
    - row 5: before any window: scaled_sigmoid(3.0) * 0.11 = -0.11.
    - row 9: in the window at -(11 - 9 + 1) / 4 = -0.75: (2 / (1 + e^-3.75) - 1) / 0.986614
      = 0.954047 / 0.986614 = 0.966991.
    - row 10: in the window at -0.5: 0.859790; only the window's best detection counts.
    - row 13: past the window by |11 - 13| / (4 - 1) = 0.6667: (2 / (1 + e^3.3333) - 1) * 0.11
      = -0.931109 * 0.11 = -0.102422.
    raw = 0.966991 - 0.11 - 0.102422 = 0.754569; null -1, perfect +1; normalised
    100 * (0.754569 + 1) / 2 = 87.728.
    """
    bounds = [(8, 11)]
    score = nab.file_score(_detections(20, [2, 5, 9, 10, 13]), bounds)
    assert score.raw == pytest.approx(0.754569, abs=1e-5)
    assert (score.null, score.perfect) == (-1.0, 1.0)
    assert (score.true_positives, score.false_negatives, score.false_positives) == (1, 0, 2)
    assert nab.normalized_score([score]) == pytest.approx(87.728, abs=1e-3)


def test_corpus_normalisation_and_reference_detectors() -> None:
    # A second file whose two windows are both missed (-1 each), and a false positive 7 rows past a
    # window of width 4: position 7 / 3, scaled_sigmoid = 2 / (1 + e^(35/3)) - 1.
    missed = nab.file_score(_detections(40, [20]), [(10, 13), (30, 33)])
    assert missed.raw == pytest.approx(-2.0 + 0.11 * (2 / (1 + math.exp(35 / 3)) - 1), abs=1e-12)
    assert nab.normalized_score([nab.file_score(_detections(40, []), [(10, 13), (30, 33)])]) == 0.0
    assert nab.normalized_score([nab.file_score(_detections(40, [10, 30]), [(10, 13), (30, 33)])]) == 100.0
    worked = nab.file_score(_detections(20, [2, 5, 9, 10, 13]), [(8, 11)])
    # Corpus: (0.754569 + raw_missed - (-1 - 2)) / (3 - (-3)).
    expected = 100 * (worked.raw + missed.raw + 3) / 6
    assert nab.normalized_score([worked, missed]) == pytest.approx(expected)


def test_window_bounds_from_timestamps() -> None:
    stamps = [T0 + timedelta(minutes=5 * i) for i in range(10)]
    windows = [(T0 + timedelta(minutes=10), T0 + timedelta(minutes=22))]
    assert nab.window_bounds(stamps, windows) == [(2, 4)]


def test_probation_is_capped_at_750_rows() -> None:
    assert nab.probation_rows(20) == 3
    assert nab.probation_rows(15_902) == 750
